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
import { RACP_OP_CODES, RACP_OPERATORS } from "../src/drivers/profiles/gatt-record-access-control-point.js";
import { CHARACTERISTIC, SERVICE, uuid16 } from "../src/drivers/profiles/gatt-uuids.js";
import type { FakeBluez, PeripheralSpec } from "./fake-bluez.js";
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

/** The measurement characteristic comes first; a glucose meter also has its RACP (write + indicate). */
const table: Record<
  BleProfile,
  { service: number; chars: Array<{ uuid: number; flags: readonly string[] }> }
> = {
  heart_rate: {
    service: SERVICE.HEART_RATE,
    chars: [{ uuid: CHARACTERISTIC.HEART_RATE_MEASUREMENT, flags: ["notify"] }],
  },
  thermometer: {
    service: SERVICE.HEALTH_THERMOMETER,
    chars: [{ uuid: CHARACTERISTIC.TEMPERATURE_MEASUREMENT, flags: ["indicate"] }],
  },
  blood_pressure: {
    service: SERVICE.BLOOD_PRESSURE,
    chars: [{ uuid: CHARACTERISTIC.BLOOD_PRESSURE_MEASUREMENT, flags: ["indicate"] }],
  },
  pulse_oximeter: {
    service: SERVICE.PULSE_OXIMETER,
    chars: [{ uuid: CHARACTERISTIC.PLX_CONTINUOUS_MEASUREMENT, flags: ["notify"] }],
  },
  weight_scale: {
    service: SERVICE.WEIGHT_SCALE,
    chars: [{ uuid: CHARACTERISTIC.WEIGHT_MEASUREMENT, flags: ["indicate"] }],
  },
  glucose: {
    service: SERVICE.GLUCOSE,
    chars: [
      { uuid: CHARACTERISTIC.GLUCOSE_MEASUREMENT, flags: ["notify"] },
      { uuid: CHARACTERISTIC.RECORD_ACCESS_CONTROL_POINT, flags: ["write", "indicate"] },
    ],
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
        characteristics: t.chars.map((c) => ({ uuid: uuid16(c.uuid), flags: [...c.flags] })),
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
      // [clinical.md §1.6] the Device and Sensor Status goes with every frame, so the gateway hears the probe
      // come off (bit 11 "Sensor Unconnected to User", NaN values: `08 FF07 FF07 000800`) and go back on (0)
      return encodePlxContinuousMeasurement({
        normal: s.sensorContact
          ? { spo2: s.spo2, pulseRate: Math.round(s.heartRate) }
          : { spo2: "nan", pulseRate: "nan" },
        deviceSensorStatus: s.sensorContact ? 0 : PLX_DSS_SENSOR_UNCONNECTED,
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

/** [clinical.md §1.6] PLX Device and Sensor Status bit 11 "Sensor Unconnected to User". */
export const PLX_DSS_SENSOR_UNCONNECTED = 1 << 11;

/** A malformed frame (flags promise fields that are not there): every decoder refuses it as frame_too_short. */
export const BAD_FRAME = Uint8Array.of(0x1f);

/** The Record Access Control Point 0x2A52 of a glucose meter [clinical.md §1.7.1]. */
export const RACP_CHARACTERISTIC = uuid16(CHARACTERISTIC.RECORD_ACCESS_CONTROL_POINT);

/** One record a meter keeps: its sequence number and its exact Glucose Measurement bytes. */
export interface StoredGlucoseRecord {
  sequenceNumber: number;
  deviceTimeMs: number;
  frame: Uint8Array;
}

/**
 * A glucose meter's record store and its RACP server [clinical.md §1.7.1]: "report stored records" with the
 * operators all, ≤, ≥, within range, first and last (filter type 0x01, sequence number) answers the selected
 * records as Glucose Measurement notifications followed by the response indication `06 00 01 <code>`
 * (0x01 success, 0x06 no records found). Every request is kept in `requests`.
 */
export class GlucoseRecordStore {
  readonly records: StoredGlucoseRecord[] = [];
  readonly requests: Uint8Array[] = [];
  /** Answer the next request with this response code (e.g. 0x08 procedure not completed) and no records. */
  failNextWith: number | null = null;
  #nextSeq: number;

  constructor(firstSequenceNumber = 1) {
    this.#nextSeq = firstSequenceNumber;
  }

  /** Stores a measurement taken at `timeMs` (whole seconds on the wire) and returns it. */
  add(s: VitalsSample, timeMs: number): StoredGlucoseRecord {
    const sequenceNumber = this.#nextSeq;
    this.#nextSeq = (this.#nextSeq + 1) & 0xffff;
    const deviceTimeMs = Math.floor(timeMs / 1000) * 1000;
    const record = {
      sequenceNumber,
      deviceTimeMs,
      frame: profileFrame("glucose", s, sequenceNumber, deviceTimeMs),
    };
    this.records.push(record);
    return record;
  }

  /** The notifications and the RACP indication a meter sends for `request`. */
  answer(request: Uint8Array): { frames: Uint8Array[]; response: Uint8Array } {
    this.requests.push(Uint8Array.from(request));
    const op = request[0] ?? 0;
    const respond = (code: number, frames: Uint8Array[] = []) => ({
      frames,
      response: Uint8Array.of(RACP_OP_CODES.response_code, 0x00, op, code),
    });
    if (this.failNextWith !== null) {
      const code = this.failNextWith;
      this.failNextWith = null;
      return respond(code);
    }
    if (op === RACP_OP_CODES.abort_operation) return respond(0x01);
    if (op !== RACP_OP_CODES.report_stored_records) return respond(0x02); // op code not supported
    const selected = this.#select(request);
    if (typeof selected === "number") return respond(selected);
    if (selected.length === 0) return respond(0x06); // no records found
    return respond(
      0x01,
      selected.map((r) => r.frame),
    );
  }

  /** The records a "report stored records" request selects, or the RACP error code. */
  #select(request: Uint8Array): StoredGlucoseRecord[] | number {
    const operator = request[1];
    const operand = (at: number) =>
      request.length >= at + 2 ? request[at]! | (request[at + 1]! << 8) : undefined;
    const seq = (r: StoredGlucoseRecord) => r.sequenceNumber;
    if (
      operator === RACP_OPERATORS.all ||
      operator === RACP_OPERATORS.first ||
      operator === RACP_OPERATORS.last
    ) {
      if (request.length !== 2) return 0x05; // invalid operand
      if (operator === RACP_OPERATORS.all) return [...this.records];
      const r = operator === RACP_OPERATORS.first ? this.records[0] : this.records.at(-1);
      return r ? [r] : [];
    }
    if (
      operator !== RACP_OPERATORS.less_or_equal &&
      operator !== RACP_OPERATORS.greater_or_equal &&
      operator !== RACP_OPERATORS.within_range
    )
      return 0x03; // invalid operator
    if (request[2] !== 0x01) return 0x09; // operand not supported (only sequence-number filters)
    const a = operand(3);
    const b = operand(5);
    if (a === undefined) return 0x05;
    if (operator === RACP_OPERATORS.less_or_equal) return this.records.filter((r) => seq(r) <= a);
    if (operator === RACP_OPERATORS.greater_or_equal) return this.records.filter((r) => seq(r) >= a);
    if (b === undefined || b < a) return 0x05;
    return this.records.filter((r) => seq(r) >= a && seq(r) <= b);
  }
}

/**
 * Makes the glucose meter at `address` serve `store` through its RACP: the selected records go out as
 * Glucose Measurement notifications, then the response indication.
 */
export function serveGlucoseRecords(bluez: FakeBluez, address: string, store: GlucoseRecordStore): void {
  const measurement = measurementCharacteristic("glucose");
  bluez.onWrite(address, RACP_CHARACTERISTIC, (request) => {
    const { frames, response } = store.answer(request);
    for (const f of frames) bluez.notify(address, measurement, f);
    bluez.notify(address, RACP_CHARACTERISTIC, response);
  });
}
