/**
 * The binding types shared by the SDK (`../sdk.ts`, which validates definitions and re-exports these) and the
 * standard profile factories (`./gatt-bindings.ts`, which build them). They live in this leaf module so that
 * neither of the two imports the other: the factories need the types, the SDK needs the factories.
 */
import type { DecodeContext, DecodeResult } from "./decode-result.js";

/**
 * A pure decoder. Contract:
 * - MUST be a pure function of `bytes` and `ctx`: no I/O, no clock, no hidden state; same input → same output.
 * - MUST NOT modify `bytes`.
 * - MUST throw only `DecodeError` (stable snake_case `reason`) for a malformed frame; anything else is a bug.
 *   The reason is the vendor's own (not in the catalog of ../rejection-reasons.ts) or a catalogued one of its
 *   `DECODER_ORIGINS`; any other catalogued reason (`subject_erased`, `rate_limited_messages` …) is a bug too.
 * - MUST NOT return a reading whose value is outside the hard limits of src/reading.ts: use `ResultBuilder`,
 *   which moves such a value to `absent` with its reason. IEEE 11073 special values are never numbers.
 * - SHOULD list, in `absent`, every value the frame carried that produced no reading.
 */
export type Decoder<D = unknown> = (bytes: Uint8Array, ctx: DecodeContext) => DecodeResult<D>;

/** A BLE characteristic the gateway subscribes to, and the decoder for its values. */
export interface CharacteristicBinding {
  /** snake_case id, unique in the definition; used in counters and logs (e.g. "plx_continuous"). */
  name: string;
  /** Service UUID: "180D", "0x180d" or 128-bit text. */
  service: string;
  /** Characteristic UUID, same forms. */
  characteristic: string;
  /** How the device sends values. */
  property: "notify" | "indicate";
  decode: Decoder;
  /** At least one real frame (hex) that decodes to one or more readings; the conformance suite replays them. */
  examples: readonly string[];
}

/**
 * BLE only, optional: a Record Access Control Point 0x2A52 through which the BLE driver fetches the records a
 * device has stored [clinical.md §1.7.1]. On every connection, after subscribing to `notify` and to this
 * characteristic's indications, the driver writes "report stored records": all of them on the first connection
 * it makes to the device, afterwards those with a sequence number above the highest it has delivered (`01 03 01
 * <N+1 LE16>`). The records arrive as notifications of the `records` binding and go through ingest like live
 * ones; the RACP response indication (or a timeout) ends the fetch. Build it with `glucoseRecordAccess()`.
 */
export interface RecordAccessBinding {
  /** snake_case id, distinct from the `notify` names; used in counters and logs (e.g. "glucose_racp"). */
  name: string;
  /** Service UUID, same forms as `CharacteristicBinding.service`. */
  service: string;
  /** The RACP characteristic UUID (0x2A52 for the SIG profiles). */
  characteristic: string;
  /** Name of the `notify` binding whose notifications carry the stored records. */
  records: string;
  /** The record's sequence number (uint16) from its decode result, undefined if it has none. Pure. */
  sequenceNumber: (result: DecodeResult) => number | undefined;
}
