/**
 * Built-in definitions for devices that implement the standard Bluetooth SIG health profiles as specified
 * [clinical.md §1]. They match by advertised service UUID, so any conforming strap, thermometer, cuff, oximeter,
 * meter, scale or CGM works without a vendor package. A vendor definition for the same device wins when it
 * matches more specifically (the registry's concern).
 */
import {
  bloodPressureMeasurement,
  cgmMeasurement,
  type DeviceDefinition,
  defineDevice,
  glucoseMeasurement,
  glucoseRecordAccess,
  heartRateMeasurement,
  plxContinuous,
  plxSpotCheck,
  temperatureMeasurement,
  weightMeasurement,
} from "../sdk.js";

const VENDOR = "Bluetooth SIG (generic)";
const SDK = "^1.0.0";

export const genericHeartRateStrap = defineDevice({
  vendor: VENDOR,
  model: "Heart Rate Profile sensor",
  sdkVersion: SDK,
  match: { transport: "ble", serviceUuids: ["180D"] },
  notify: [heartRateMeasurement()],
});

export const genericThermometer = defineDevice({
  vendor: VENDOR,
  model: "Health Thermometer Profile thermometer",
  sdkVersion: SDK,
  match: { transport: "ble", serviceUuids: ["1809"] },
  notify: [temperatureMeasurement()],
});

export const genericBloodPressureCuff = defineDevice({
  vendor: VENDOR,
  model: "Blood Pressure Profile cuff",
  sdkVersion: SDK,
  // Intermediate Cuff Pressure 0x2A36 is deliberately not bound: it is not a BP reading [clinical.md §1.5].
  match: { transport: "ble", serviceUuids: ["1810"] },
  notify: [bloodPressureMeasurement()],
});

export const genericPulseOximeter = defineDevice({
  vendor: VENDOR,
  model: "Pulse Oximeter Profile oximeter",
  sdkVersion: SDK,
  match: { transport: "ble", serviceUuids: ["1822"] },
  // [clinical.md §1.6] C1: a device has at least one of the two; the driver subscribes to those present.
  notify: [plxContinuous(), plxSpotCheck()],
});

export const genericGlucoseMeter = defineDevice({
  vendor: VENDOR,
  model: "Glucose Profile meter",
  sdkVersion: SDK,
  match: { transport: "ble", serviceUuids: ["1808"] },
  notify: [glucoseMeasurement()],
  // Stored records are fetched on every connection through the RACP 0x2A52 [clinical.md §1.7.1]; a meter
  // without it still delivers its live measurements.
  recordAccess: glucoseRecordAccess(),
});

export const genericWeightScale = defineDevice({
  vendor: VENDOR,
  model: "Weight Scale Profile scale",
  sdkVersion: SDK,
  match: { transport: "ble", serviceUuids: ["181D"] },
  notify: [weightMeasurement()],
});

export const genericCgm = defineDevice({
  vendor: VENDOR,
  model: "Continuous Glucose Monitoring Profile sensor",
  sdkVersion: SDK,
  // E2E-CRC detected by record size; a device whose CGM Feature bit 12 is set should use e2eCrc "required".
  match: { transport: "ble", serviceUuids: ["181F"] },
  notify: [cgmMeasurement()],
});

/** All built-in definitions, in the order the registry should try them. */
export const definitions: readonly DeviceDefinition[] = Object.freeze([
  genericHeartRateStrap,
  genericThermometer,
  genericBloodPressureCuff,
  genericPulseOximeter,
  genericGlucoseMeter,
  genericWeightScale,
  genericCgm,
]);
