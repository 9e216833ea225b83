/**
 * Factories binding the standard SIG measurement characteristics to their decoders, for `DeviceDefinition.notify`.
 * Each carries the spec vectors of clinical.md §1 as examples, so the conformance suite replays real frames.
 */
import type { CharacteristicBinding, RecordAccessBinding } from "./characteristic-binding.js";
import { decodeBloodPressureMeasurement } from "./gatt-blood-pressure-measurement.js";
import { type CgmDecodeOptions, decodeCgmMeasurement } from "./gatt-cgm-measurement.js";
import { decodeGlucoseMeasurement } from "./gatt-glucose-measurement.js";
import { decodeHeartRateMeasurement } from "./gatt-heart-rate-measurement.js";
import { decodePlxContinuousMeasurement } from "./gatt-plx-continuous-measurement.js";
import { decodePlxSpotCheckMeasurement } from "./gatt-plx-spot-check-measurement.js";
import { decodeTemperatureMeasurement } from "./gatt-temperature-measurement.js";
import { CHARACTERISTIC, SERVICE, uuid16 } from "./gatt-uuids.js";
import { decodeWeightMeasurement } from "./gatt-weight-measurement.js";

/** Options every factory takes: rename the binding (e.g. two of a kind) or replace its examples. */
export interface BindingOptions {
  name?: string | undefined;
  examples?: readonly string[] | undefined;
}

function bind(
  defaults: Omit<CharacteristicBinding, "service" | "characteristic"> & {
    service: number;
    characteristic: number;
  },
  o: BindingOptions,
): CharacteristicBinding {
  return {
    ...defaults,
    service: uuid16(defaults.service),
    characteristic: uuid16(defaults.characteristic),
    name: o.name ?? defaults.name,
    examples: o.examples ?? defaults.examples,
  };
}

/** Heart Rate Measurement 0x2A37 (notify) in Heart Rate 0x180D [clinical.md §1.3]. */
export function heartRateMeasurement(o: BindingOptions = {}): CharacteristicBinding {
  return bind(
    {
      name: "heart_rate_measurement",
      service: SERVICE.HEART_RATE,
      characteristic: CHARACTERISTIC.HEART_RATE_MEASUREMENT,
      property: "notify",
      decode: decodeHeartRateMeasurement,
      examples: ["16 48 55 03 40 03", "19 4E 00 2C 01 00 04"],
    },
    o,
  );
}

/** Temperature Measurement 0x2A1C (indicate) in Health Thermometer 0x1809 [clinical.md §1.4]. */
export function temperatureMeasurement(o: BindingOptions = {}): CharacteristicBinding {
  return bind(
    {
      name: "temperature_measurement",
      service: SERVICE.HEALTH_THERMOMETER,
      characteristic: CHARACTERISTIC.TEMPERATURE_MEASUREMENT,
      property: "indicate",
      decode: decodeTemperatureMeasurement,
      examples: [
        "06 6C 01 00 FF E8 07 03 0F 08 1E 00 06",
        "06 B0 0E 00 FE DC 07 0C 05 0B 32 1B 04",
        "01 DA 03 00 FF",
      ],
    },
    o,
  );
}

/** Blood Pressure Measurement 0x2A35 (indicate) in Blood Pressure 0x1810 [clinical.md §1.5]. */
export function bloodPressureMeasurement(o: BindingOptions = {}): CharacteristicBinding {
  return bind(
    {
      name: "blood_pressure_measurement",
      service: SERVICE.BLOOD_PRESSURE,
      characteristic: CHARACTERISTIC.BLOOD_PRESSURE_MEASUREMENT,
      property: "indicate",
      decode: decodeBloodPressureMeasurement,
      examples: ["1E 79 00 51 00 AF F3 E8 07 03 0F 08 1E 00 48 00 01 04 00", "01 A1 F0 6C F0 FF 07"],
    },
    o,
  );
}

/** PLX Spot-Check Measurement 0x2A5E (indicate) in Pulse Oximeter 0x1822 [clinical.md §1.6]. */
export function plxSpotCheck(o: BindingOptions = {}): CharacteristicBinding {
  return bind(
    {
      name: "plx_spot_check",
      service: SERVICE.PULSE_OXIMETER,
      characteristic: CHARACTERISTIC.PLX_SPOT_CHECK_MEASUREMENT,
      property: "indicate",
      decode: decodePlxSpotCheckMeasurement,
      examples: ["01 61 00 44 00 E8 07 03 0F 08 1E 00"],
    },
    o,
  );
}

/** PLX Continuous Measurement 0x2A5F (notify) in Pulse Oximeter 0x1822 [clinical.md §1.6]. */
export function plxContinuous(o: BindingOptions = {}): CharacteristicBinding {
  return bind(
    {
      name: "plx_continuous",
      service: SERVICE.PULSE_OXIMETER,
      characteristic: CHARACTERISTIC.PLX_CONTINUOUS_MEASUREMENT,
      property: "notify",
      decode: decodePlxContinuousMeasurement,
      examples: ["10 62 00 48 00 19 F0"],
    },
    o,
  );
}

/** Glucose Measurement 0x2A18 (notify) in Glucose 0x1808 [clinical.md §1.7]; fetch stored records via RACP. */
export function glucoseMeasurement(o: BindingOptions = {}): CharacteristicBinding {
  return bind(
    {
      name: "glucose_measurement",
      service: SERVICE.GLUCOSE,
      characteristic: CHARACTERISTIC.GLUCOSE_MEASUREMENT,
      property: "notify",
      decode: decodeGlucoseMeasurement,
      examples: [
        "03 05 00 E8 07 03 0F 07 2D 00 00 00 5F B0 11",
        "0F 06 00 E8 07 03 0F 07 32 00 FB FF 35 C0 11 01 00",
      ],
    },
    o,
  );
}

/**
 * Record Access Control Point 0x2A52 in Glucose 0x1808 [clinical.md §1.7.1], for `DeviceDefinition.recordAccess`:
 * stored records arrive as notifications of the Glucose Measurement binding (`records`, default
 * "glucose_measurement"); the record's sequence number is the decoder's `details.sequenceNumber`.
 */
export function glucoseRecordAccess(
  o: { name?: string | undefined; records?: string | undefined } = {},
): RecordAccessBinding {
  return {
    name: o.name ?? "glucose_racp",
    service: uuid16(SERVICE.GLUCOSE),
    characteristic: uuid16(CHARACTERISTIC.RECORD_ACCESS_CONTROL_POINT),
    records: o.records ?? "glucose_measurement",
    sequenceNumber: (result) => {
      const n = (result.details as { sequenceNumber?: unknown } | null | undefined)?.sequenceNumber;
      return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffff ? n : undefined;
    },
  };
}

/** Weight Measurement 0x2A9D (indicate) in Weight Scale 0x181D [clinical.md §1.8]. */
export function weightMeasurement(o: BindingOptions = {}): CharacteristicBinding {
  return bind(
    {
      name: "weight_measurement",
      service: SERVICE.WEIGHT_SCALE,
      characteristic: CHARACTERISTIC.WEIGHT_MEASUREMENT,
      property: "indicate",
      decode: decodeWeightMeasurement,
      examples: ["02 90 38 E8 07 03 0F 07 00 00", "0E 90 38 E8 07 03 0F 07 00 00 01 EC 00 D8 06"],
    },
    o,
  );
}

/** CGM Measurement 0x2AA7 (notify) in CGM 0x181F [clinical.md §1.9]; `e2eCrc: "required"` if CGM Feature bit 12. */
export function cgmMeasurement(o: BindingOptions & CgmDecodeOptions = {}): CharacteristicBinding {
  const options: CgmDecodeOptions = { e2eCrc: o.e2eCrc };
  return bind(
    {
      name: "cgm_measurement",
      service: SERVICE.CONTINUOUS_GLUCOSE_MONITORING,
      characteristic: CHARACTERISTIC.CGM_MEASUREMENT,
      property: "notify",
      decode: (bytes, ctx) => decodeCgmMeasurement(bytes, ctx, options),
      examples:
        o.e2eCrc === "required"
          ? ["0F E3 D2 E4 05 00 02 14 FF 02 F0 E5 F3 8E 3F"]
          : ["06 00 78 00 1E 00", "08 01 78 00 1E 00 F1 FF", "0F E3 D2 E4 05 00 02 14 FF 02 F0 E5 F3 8E 3F"],
    },
    o,
  );
}
