/**
 * PLX Measurement Status (uint16) and Device and Sensor Status (uint24), shared by Spot-Check 0x2A5E and
 * Continuous 0x2A5F [Bluetooth SIG Pulse Oximeter Service; plx_spot_check_measurement.xml,
 * plx_continuous_measurement.xml], and the gateway rules for them [clinical.md §1.6 "Gateway rules"].
 */
import type { ReadingFlag } from "../../reading.js";
import { type AbsentReason, bitNames, type DeviceCondition, type ResultBuilder } from "./decode-result.js";

/** [clinical.md §1.6] Measurement Status bits 5–15 (0–4 RFU). */
export const PLX_MEASUREMENT_STATUS_BITS = {
  5: "measurement_ongoing",
  6: "early_estimated_data",
  7: "validated_data",
  8: "fully_qualified_data",
  9: "data_from_measurement_storage",
  10: "data_for_demonstration",
  11: "data_for_testing",
  12: "calibration_ongoing",
  13: "measurement_unavailable",
  14: "questionable_measurement_detected",
  15: "invalid_measurement_detected",
} as const;

/** [clinical.md §1.6] Device and Sensor Status bits 0–15 (16–23 RFU). */
export const PLX_DEVICE_SENSOR_STATUS_BITS = {
  0: "extended_display_update_ongoing",
  1: "equipment_malfunction",
  2: "signal_processing_irregularity",
  3: "inadequate_signal",
  4: "poor_signal",
  5: "low_perfusion",
  6: "erratic_signal",
  7: "nonpulsatile_signal",
  8: "questionable_pulse",
  9: "signal_analysis_ongoing",
  10: "sensor_interference",
  11: "sensor_unconnected_to_user",
  12: "unknown_sensor_connected",
  13: "sensor_displaced",
  14: "sensor_malfunctioning",
  15: "sensor_disconnected",
} as const;

export type PlxMeasurementStatusName =
  (typeof PLX_MEASUREMENT_STATUS_BITS)[keyof typeof PLX_MEASUREMENT_STATUS_BITS];
export type PlxDeviceSensorStatusName =
  (typeof PLX_DEVICE_SENSOR_STATUS_BITS)[keyof typeof PLX_DEVICE_SENSOR_STATUS_BITS];

export interface PlxStatusDetails {
  measurementStatus?: number | undefined;
  measurementStatusNames: PlxMeasurementStatusName[];
  deviceSensorStatus?: number | undefined;
  deviceSensorStatusNames: PlxDeviceSensorStatusName[];
}

const DSS_CONDITION: Partial<Record<PlxDeviceSensorStatusName, DeviceCondition>> = {
  equipment_malfunction: "equipment_malfunction",
  signal_processing_irregularity: "signal_inadequate",
  inadequate_signal: "signal_inadequate",
  poor_signal: "signal_inadequate",
  low_perfusion: "signal_inadequate",
  erratic_signal: "signal_inadequate",
  nonpulsatile_signal: "signal_inadequate",
  questionable_pulse: "signal_inadequate",
  sensor_interference: "signal_inadequate",
  sensor_unconnected_to_user: "probe_off",
  unknown_sensor_connected: "sensor_malfunction",
  sensor_displaced: "signal_inadequate",
  sensor_malfunctioning: "sensor_malfunction",
  sensor_disconnected: "probe_off",
};

/** [clinical.md §1.6] DSS bits 11 "Sensor Unconnected to User" and 15 "Sensor Disconnected": the probe is off. */
const PROBE_OFF: readonly PlxDeviceSensorStatusName[] = ["sensor_unconnected_to_user", "sensor_disconnected"];

/**
 * [clinical.md §1.6 "Gateway rules"] Measurement Status bits 13–15 (bits 10/11 drop the values instead) and
 * Device and Sensor Status bits 1–8 and 10–15 suppress physiological SpO2/PR alarms: the values do not reflect
 * the patient.
 */
const MS_SUPPRESS: readonly PlxMeasurementStatusName[] = [
  "measurement_unavailable",
  "questionable_measurement_detected",
  "invalid_measurement_detected",
];
const DSS_SUPPRESS_BITS = [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15] as const;
const DSS_SUPPRESS: readonly PlxDeviceSensorStatusName[] = DSS_SUPPRESS_BITS.map(
  (bit) => PLX_DEVICE_SENSOR_STATUS_BITS[bit],
);

/** What the status words mean for the readings of this frame. */
export interface PlxVerdict {
  /** Set when the values are not patient data (demonstration / testing): emit no reading. */
  dropReason?: AbsentReason | undefined;
  /** Flags for every SpO2/PR reading of the frame (alarm suppression is the rule engine's job). */
  flags: ReadingFlag[];
  details: PlxStatusDetails;
}

/**
 * Applies [clinical.md §1.6 "Gateway rules"]: MS bits 10/11 → not patient data; MS bits 13–15 or DSS bits
 * 1–8, 10–15 → `device_reported_issue` plus a technical condition, and the physiological alarms suppressed:
 * DSS 11/15 (probe off) → `sensor_contact_lost` and a status saying contact lost (technical alarm "sensor
 * contact lost"); any other of them → `signal_unreliable` (technical alarm "signal quality"), so the alarm text
 * names what the device reported (a questionable pulse is not a lost contact). A frame with a Device and Sensor
 * Status but neither probe-off bit reports contact.
 */
export function applyPlxStatus(
  out: ResultBuilder,
  ms: number | undefined,
  dss: number | undefined,
): PlxVerdict {
  const msNames = ms === undefined ? [] : bitNames(ms, PLX_MEASUREMENT_STATUS_BITS);
  const dssNames = dss === undefined ? [] : bitNames(dss, PLX_DEVICE_SENSOR_STATUS_BITS);
  const flags = new Set<ReadingFlag>();
  let dropReason: AbsentReason | undefined;
  if (msNames.includes("data_for_demonstration")) {
    dropReason = "demonstration_data";
    out.condition("demonstration_data");
  }
  if (msNames.includes("data_for_testing")) {
    dropReason ??= "testing_data";
    out.condition("testing_data");
  }
  if (msNames.includes("measurement_unavailable")) out.condition("measurement_unavailable");
  if (msNames.includes("questionable_measurement_detected")) out.condition("questionable_measurement");
  if (msNames.includes("invalid_measurement_detected")) out.condition("invalid_measurement");
  if (msNames.some((n) => MS_SUPPRESS.includes(n))) flags.add("device_reported_issue");
  for (const name of dssNames) {
    const condition = DSS_CONDITION[name];
    if (!condition) continue;
    out.condition(condition);
    flags.add("device_reported_issue");
  }
  const isProbeOff = dssNames.some((n) => PROBE_OFF.includes(n));
  if (dss !== undefined) out.status({ sensorContact: !isProbeOff });
  if (isProbeOff) flags.add("sensor_contact_lost");
  else if (msNames.some((n) => MS_SUPPRESS.includes(n)) || dssNames.some((n) => DSS_SUPPRESS.includes(n))) {
    flags.add("signal_unreliable");
  }
  return {
    dropReason,
    flags: [...flags].sort(),
    details: {
      measurementStatus: ms,
      measurementStatusNames: msNames,
      deviceSensorStatus: dss,
      deviceSensorStatusNames: dssNames,
    },
  };
}
