import type { VitalsSample } from "../../firmware-sim/scenarios.js";

/** Normal adult vitals: the fixture the driver end-to-end tests send unless a test needs otherwise. */
export const NORMAL_SAMPLE: VitalsSample = {
  heartRate: 72,
  spo2: 97,
  respiratoryRate: 14,
  temperatureC: 36.8,
  systolic: 122,
  diastolic: 78,
  sensorContact: true,
  batteryPct: 90,
};
