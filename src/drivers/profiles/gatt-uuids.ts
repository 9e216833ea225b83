/** Bluetooth SIG UUIDs of the health services and characteristics [clinical.md §1.0 table]. */

/** 128-bit form of a 16-bit SIG UUID: 0000XXXX-0000-1000-8000-00805F9B34FB [clinical.md §1.0], lower case. */
export function uuid16(short: number): string {
  if (!Number.isInteger(short) || short < 0 || short > 0xffff)
    throw new RangeError("16-bit UUID out of range");
  return `0000${short.toString(16).padStart(4, "0")}-0000-1000-8000-00805f9b34fb`;
}

const UUID128 = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Canonical lower-case 128-bit form of a UUID given as "180D", "0x180d" or 128-bit text.
 * Returns undefined when the text is not a UUID.
 */
export function normaliseUuid(text: string): string | undefined {
  const t = text.trim().toLowerCase().replace(/^0x/, "");
  if (/^[0-9a-f]{4}$/.test(t)) return uuid16(Number.parseInt(t, 16));
  if (/^[0-9a-f]{8}$/.test(t)) return `${t}-0000-1000-8000-00805f9b34fb`;
  return UUID128.test(t) ? t : undefined;
}

export const SERVICE = {
  HEART_RATE: 0x180d,
  HEALTH_THERMOMETER: 0x1809,
  BLOOD_PRESSURE: 0x1810,
  PULSE_OXIMETER: 0x1822,
  GLUCOSE: 0x1808,
  WEIGHT_SCALE: 0x181d,
  CONTINUOUS_GLUCOSE_MONITORING: 0x181f,
  CURRENT_TIME: 0x1805,
} as const;

export const CHARACTERISTIC = {
  HEART_RATE_MEASUREMENT: 0x2a37,
  BODY_SENSOR_LOCATION: 0x2a38,
  TEMPERATURE_MEASUREMENT: 0x2a1c,
  INTERMEDIATE_TEMPERATURE: 0x2a1e,
  BLOOD_PRESSURE_MEASUREMENT: 0x2a35,
  INTERMEDIATE_CUFF_PRESSURE: 0x2a36,
  PLX_SPOT_CHECK_MEASUREMENT: 0x2a5e,
  PLX_CONTINUOUS_MEASUREMENT: 0x2a5f,
  PLX_FEATURES: 0x2a60,
  GLUCOSE_MEASUREMENT: 0x2a18,
  GLUCOSE_MEASUREMENT_CONTEXT: 0x2a34,
  RECORD_ACCESS_CONTROL_POINT: 0x2a52,
  WEIGHT_MEASUREMENT: 0x2a9d,
  CGM_MEASUREMENT: 0x2aa7,
  CGM_FEATURE: 0x2aa8,
  CGM_SESSION_START_TIME: 0x2aaa,
  DATE_TIME: 0x2a08,
} as const;
