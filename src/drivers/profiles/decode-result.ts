/**
 * What every profile decoder returns, and the builder that keeps its promises: readings are valid
 * `ReadingInput`s whose values are inside the hard limits of src/reading.ts; every value the frame carried
 * that did not become a reading is listed in `absent` with a reason.
 */
import {
  type DeviceStatusInput,
  normaliseInput,
  type ReadingFlag,
  type ReadingInput,
  type RejectReason,
  type VitalKind,
} from "../../reading.js";
import type { MderNumber, MderSpecial } from "./ieee11073.js";

/** Decoder input besides the bytes. Pure data; the same bytes and context always give the same result. */
export interface DecodeContext {
  /** Gateway time (ms since the Unix epoch) when the frame arrived. */
  nowMs: number;
  /** The device's wall-clock offset from UTC in minutes: GATT Date Time carries no zone [clinical.md §1.1]. Default 0. */
  deviceUtcOffsetMin?: number | undefined;
  /** CGM Session Start Time as an instant, when known: CGM time offsets count minutes from it [clinical.md §1.9]. */
  cgmSessionStartMs?: number | undefined;
}

/** A reading as decoded: a `ReadingInput` plus the precision the device sent. */
export interface DecodedReading extends ReadingInput {
  /** Decimal places the device sent (IEEE 11073 exponent), when the wire format carries it. */
  decimals?: number | undefined;
}

/** Why a value on the wire produced no reading. Wire strings: only ever added to. */
export type AbsentReason =
  | MderSpecial
  | Exclude<
      RejectReason,
      | "device_time_invalid"
      | "device_time_in_future"
      | "bp_diastolic_not_below_systolic"
      | "bp_mean_outside_range"
    >
  /** Weight 0xFFFF [clinical.md §1.8]. */
  | "measurement_unsuccessful"
  /** Glucose type 10 or sample location 4 [clinical.md §1.7]. */
  | "control_solution"
  /** PLX Measurement Status bit 10 [clinical.md §1.6]. */
  | "demonstration_data"
  /** PLX Measurement Status bit 11 [clinical.md §1.6]. */
  | "testing_data"
  /** PLX Measurement Status bit 13 "Measurement Unavailable". */
  | "measurement_unavailable";

export interface AbsentValue {
  kind: VitalKind;
  reason: AbsentReason;
}

/** Technical (non-physiological) conditions a frame reports. Wire strings: only ever added to. */
export type DeviceCondition =
  | "sensor_contact_lost"
  | "probe_off"
  | "signal_inadequate"
  | "equipment_malfunction"
  | "measurement_unsuccessful"
  | "measurement_unavailable"
  | "questionable_measurement"
  | "invalid_measurement"
  | "battery_low"
  | "body_movement"
  | "cuff_too_loose"
  | "improper_measurement_position"
  | "sensor_malfunction"
  | "sample_error"
  | "result_out_of_device_range"
  | "sensor_temperature_out_of_range"
  | "device_fault"
  | "time_fault"
  | "calibration_required"
  | "session_stopped"
  | "demonstration_data"
  | "testing_data"
  | "control_solution"
  | "clock_not_set";

/** The result of decoding one frame. `details` holds the profile-specific fields (typed per decoder). */
export interface DecodeResult<D = unknown> {
  readings: DecodedReading[];
  absent: AbsentValue[];
  /** Sorted, unique. */
  conditions: DeviceCondition[];
  /** Present when the frame says something about the device itself (contact, battery, clock). */
  status?: DeviceStatusInput | undefined;
  /**
   * Optional: parts of the frame refused that are no value of a known vital, so `absent` cannot name
   * them (a SenML record with an unknown name or no unit, a malformed entry of a JSON list). Each is stored
   * and counted with its `reason` like a frame refused whole; the rest of the frame still counts. The reason
   * MUST be the vendor's own snake_case reason or a catalogued one a decoder may give (`DECODER_ORIGINS` of
   * src/drivers/rejection-reasons.ts); any other is a decoder bug, stored and counted as `decoder_bug`.
   */
  rejected?: readonly FrameRefusal[] | undefined;
  details: D;
}

/** A part of a frame refused, with a stable snake_case reason and a short detail (no measurement values). */
export interface FrameRefusal {
  reason: string;
  detail: string;
}

/** Options for one reading pushed through the builder. */
export interface ReadingExtras {
  mdc?: number | undefined;
  deviceTimeMs?: number | undefined;
  flags?: readonly ReadingFlag[] | undefined;
}

/**
 * Accumulates a DecodeResult. `reading()` checks each value against the hard limits of src/reading.ts (the one
 * source of those limits) and moves a value outside them to `absent` with ingest's reject reason; device-time
 * checks stay with ingest, which knows the receive time it stamps.
 */
export class ResultBuilder {
  readonly #nowMs: number;
  readonly #readings: DecodedReading[] = [];
  readonly #absent: AbsentValue[] = [];
  readonly #conditions = new Set<DeviceCondition>();
  readonly #frameFlags = new Set<ReadingFlag>();
  #status: DeviceStatusInput | undefined;

  constructor(ctx: DecodeContext) {
    this.#nowMs = ctx.nowMs;
  }

  /** Pushes a reading if its value is within the hard limits; otherwise records why not. Returns whether pushed. */
  reading(input: DecodedReading): boolean {
    const check = normaliseInput({ kind: input.kind, value: input.value, unit: input.unit }, this.#nowMs);
    if (!check.ok) {
      this.#absent.push({ kind: input.kind, reason: check.reason as AbsentReason });
      return false;
    }
    const out: DecodedReading = { kind: input.kind, value: input.value, unit: input.unit };
    if (input.deviceTimeMs !== undefined) out.deviceTimeMs = input.deviceTimeMs;
    if (input.mdc !== undefined) out.mdc = input.mdc;
    if (input.flags && input.flags.length > 0) out.flags = [...new Set(input.flags)].sort();
    if (input.decimals !== undefined) out.decimals = input.decimals;
    this.#readings.push(out);
    return true;
  }

  /** Pushes an SFLOAT/FLOAT value, or records its special value as the absent reason. */
  mder(kind: VitalKind, n: MderNumber, unit: string, extras: ReadingExtras = {}): boolean {
    if (!n.ok) {
      this.absent(kind, n.special);
      return false;
    }
    return this.reading({ kind, value: n.value, unit, decimals: n.decimals, ...extras });
  }

  absent(kind: VitalKind, reason: AbsentReason): void {
    this.#absent.push({ kind, reason });
  }

  condition(...conditions: DeviceCondition[]): void {
    for (const c of conditions) this.#conditions.add(c);
  }

  status(patch: DeviceStatusInput): void {
    this.#status = { ...this.#status, ...patch };
  }

  /**
   * Flags every reading of the frame, pushed before or after this call: a status field that applies to the whole
   * frame (e.g. a contact status that cannot be read, `signal_unreliable`).
   */
  frameFlag(flag: ReadingFlag): void {
    this.#frameFlags.add(flag);
  }

  build<D>(details: D): DecodeResult<D> {
    const frameFlags = [...this.#frameFlags];
    const readings =
      frameFlags.length === 0
        ? this.#readings
        : this.#readings.map((r) => ({
            ...r,
            flags: [...new Set([...(r.flags ?? []), ...frameFlags])].sort(),
          }));
    const result: DecodeResult<D> = {
      readings,
      absent: this.#absent,
      conditions: [...this.#conditions].sort(),
      details,
    };
    if (this.#status) result.status = this.#status;
    return result;
  }
}

/** Names the bits set in `word` using a bit → name table (RFU bits are ignored [clinical.md §1.0]). */
export function bitNames<T extends string>(word: number, table: Readonly<Record<number, T>>): T[] {
  const out: T[] = [];
  for (const [bit, name] of Object.entries(table))
    if (Math.floor(word / 2 ** Number(bit)) % 2 === 1) out.push(name as T);
  return out;
}
