/**
 * The one error a profile decoder throws. A malformed or short frame is an operational event, not a bug:
 * the driver catches it, counts it per device and `reason`, logs it and keeps the device up
 * (DESIGN.md "Every rejection is explained"). Bad arguments (not a Uint8Array) are bugs: TypeError.
 */

/** Reasons the built-in decoders use. Wire strings: only ever added to, never renamed. */
export const DECODE_ERROR_REASONS = [
  /** Fewer octets than the flags (or the fixed layout) require ([clinical.md §1.0] "Length"). */
  "frame_too_short",
  /** Octets left over that no field accounts for, where the layout forbids them (odd RR bytes). */
  "frame_length_invalid",
  /** A Date Time field is outside its range (month 13, hour 24, 30 February, year 1–1581). */
  "invalid_date_time",
  /** A CGM record's Size octet is below 6, beyond the frame, or matches neither layout. */
  "invalid_record_size",
  /** The CGM E2E-CRC does not match the record. */
  "crc_mismatch",
  /** The CGM Feature says E2E-CRC is supported but the record carries none. */
  "crc_missing",
  /** A control-point response names an op code this decoder does not know. */
  "unknown_op_code",
  /** A vendor frame declares a format version the decoder does not know. */
  "unsupported_version",
] as const;

export type BuiltinDecodeErrorReason = (typeof DECODE_ERROR_REASONS)[number];

const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

/**
 * Thrown by a decoder for a malformed frame, and by nothing else.
 * `reason` is a stable snake_case string (a built-in reason or a vendor's own); compare it, never `message`.
 */
export class DecodeError extends Error {
  readonly reason: string;
  /** Octet offset in the frame where decoding stopped, when known. */
  readonly offset: number | undefined;

  constructor(reason: BuiltinDecodeErrorReason | (string & {}), message: string, offset?: number) {
    if (!SNAKE_CASE.test(reason))
      throw new TypeError(`DecodeError reason must be snake_case, got ${JSON.stringify(reason)}`);
    super(message);
    this.name = "DecodeError";
    this.reason = reason;
    this.offset = offset;
  }
}

/** Throws TypeError unless `bytes` is a Uint8Array (a caller bug, not a bad frame). */
export function assertBytes(bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("frame must be a Uint8Array");
}
