/**
 * What each simulated BLE peripheral looks like (GATT table) and the exact bytes it sends for a patient's
 * vitals, built with the same profile encoders the decoders are tested against [clinical.md §1].
 */
import { encodeBloodPressureMeasurement } from "../src/drivers/profiles/encode-blood-pressure-measurement.js";
import { encodeGlucoseMeasurement } from "../src/drivers/profiles/encode-glucose-measurement.js";
import { encodeHeartRateMeasurement } from "../src/drivers/profiles/encode-heart-rate-measurement.js";
import { encodePlxContinuousMeasurement } from "../src/drivers/profiles/encode-plx.js";
import { encodeTemperatureMeasurement } from "../src/drivers/profiles/encode-temperature-measurement.js";
import {
  encodeWeightMeasurement,
  weightRawFromKg,
} from "../src/drivers/profiles/encode-weight-measurement.js";
import { CHARACTERISTIC, SERVICE, uuid16 } from "../src/drivers/profiles/gatt-uuids.js";
import type { PeripheralSpec } from "./fake-bluez.js";
import type { VitalsSample } from "./scenarios.js";

export const BLE_PROFILES = [
  "heart_rate",
  "thermometer",
  "blood_pressure",
  "pulse_oximeter",
  "weight_scale",
  "glucose",
] as const;
export type BleProfile = (typeof BLE_PROFILES)[number];

const table: Record<
  BleProfile,
  { service: number; chars: Array<{ uuid: number; flag: "notify" | "indicate" }> }
> = {
  heart_rate: {
    service: SERVICE.HEART_RATE,
    chars: [{ uuid: CHARACTERISTIC.HEART_RATE_MEASUREMENT, flag: "notify" }],
  },
  thermometer: {
    service: SERVICE.HEALTH_THERMOMETER,
    chars: [{ uuid: CHARACTERISTIC.TEMPERATURE_MEASUREMENT, flag: "indicate" }],
  },
  blood_pressure: {
    service: SERVICE.BLOOD_PRESSURE,
    chars: [{ uuid: CHARACTERISTIC.BLOOD_PRESSURE_MEASUREMENT, flag: "indicate" }],
  },
  pulse_oximeter: {
    service: SERVICE.PULSE_OXIMETER,
    chars: [{ uuid: CHARACTERISTIC.PLX_CONTINUOUS_MEASUREMENT, flag: "notify" }],
  },
  weight_scale: {
    service: SERVICE.WEIGHT_SCALE,
    chars: [{ uuid: CHARACTERISTIC.WEIGHT_MEASUREMENT, flag: "indicate" }],
  },
  glucose: {
    service: SERVICE.GLUCOSE,
    chars: [{ uuid: CHARACTERISTIC.GLUCOSE_MEASUREMENT, flag: "notify" }],
  },
};

/** The GATT table a peripheral of `profile` exposes. */
export function peripheralSpec(
  address: string,
  profile: BleProfile,
  name: string,
  paired = false,
): PeripheralSpec {
  const t = table[profile];
  return {
    address,
    name,
    paired,
    services: [
      {
        uuid: uuid16(t.service),
        characteristics: t.chars.map((c) => ({ uuid: uuid16(c.uuid), flags: [c.flag] })),
      },
    ],
  };
}

/** The measurement characteristic of a profile (where its frames go). */
export function measurementCharacteristic(profile: BleProfile): string {
  return uuid16(table[profile].chars[0]!.uuid);
}

/** The exact bytes a device of `profile` sends for `s` (the `seq`-th measurement). */
export function profileFrame(profile: BleProfile, s: VitalsSample, seq: number, nowMs: number): Uint8Array {
  switch (profile) {
    case "heart_rate":
      return encodeHeartRateMeasurement({
        heartRate: Math.round(s.heartRate),
        sensorContact: s.sensorContact ? "detected" : "not_detected",
      });
    case "thermometer":
      return encodeTemperatureMeasurement({ temperature: s.temperatureC });
    case "blood_pressure":
      return encodeBloodPressureMeasurement({
        systolic: s.systolic,
        diastolic: s.diastolic,
        pulseRate: Math.round(s.heartRate),
      });
    case "pulse_oximeter":
      return encodePlxContinuousMeasurement({
        normal: s.sensorContact
          ? { spo2: s.spo2, pulseRate: Math.round(s.heartRate) }
          : { spo2: "nan", pulseRate: "nan" },
      });
    case "weight_scale":
      return encodeWeightMeasurement({ weightRaw: weightRawFromKg(72.4 + (seq % 3) * 0.1) });
    case "glucose":
      return encodeGlucoseMeasurement({
        sequenceNumber: seq & 0xffff,
        baseTime: nowMs,
        concentration: { mantissa: 95 + (seq % 7), exponent: -5 },
      });
  }
}

/** A malformed frame (flags promise fields that are not there): every decoder refuses it as frame_too_short. */
export const BAD_FRAME = Uint8Array.of(0x1f);
