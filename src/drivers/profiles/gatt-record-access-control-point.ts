/**
 * Record Access Control Point 0x2A52 (Glucose, PLX storage, CGM) [clinical.md §1.7.1]: request encoder and
 * response decoder. Write `Op Code | Operator | [Filter Type | Operand…]`; stored records then arrive as normal
 * measurement notifications, and the RACP indicates `06 00 <request op code> <response code>` (or
 * `05 00 <count uint16>` for "report number of records").
 */
import { ByteReader, ByteWriter } from "./byte-reader.js";
import { DecodeError } from "./decode-error.js";

export const RACP_OP_CODES = {
  report_stored_records: 0x01,
  delete_stored_records: 0x02,
  abort_operation: 0x03,
  report_number_of_records: 0x04,
  number_of_records_response: 0x05,
  response_code: 0x06,
} as const;

export const RACP_OPERATORS = {
  null: 0x00,
  all: 0x01,
  less_or_equal: 0x02,
  greater_or_equal: 0x03,
  within_range: 0x04,
  first: 0x05,
  last: 0x06,
} as const;

/**
 * Response codes. 0x01 and 0x06 are confirmed in clinical.md; the rest follow the GLS specification as commonly
 * quoted [M] (clinical.md §7 item 4: confirm before release). Unknown codes decode as "unknown".
 */
export const RACP_RESPONSE_CODES = {
  1: "success",
  2: "op_code_not_supported",
  3: "invalid_operator",
  4: "operator_not_supported",
  5: "invalid_operand",
  6: "no_records_found",
  7: "abort_unsuccessful",
  8: "procedure_not_completed",
  9: "operand_not_supported",
} as const;

export type RacpOpCode = keyof typeof RACP_OP_CODES;
export type RacpOperator = keyof typeof RACP_OPERATORS;
export type RacpResponseName = (typeof RACP_RESPONSE_CODES)[keyof typeof RACP_RESPONSE_CODES] | "unknown";

/** Filter type 0x01: sequence number (glucose) or time offset (CGM), uint16 operands [clinical.md §1.7.1]. */
export const RACP_FILTER_SEQUENCE_NUMBER = 0x01;

export interface RacpRequest {
  opCode: "report_stored_records" | "delete_stored_records" | "abort_operation" | "report_number_of_records";
  operator: RacpOperator;
  /** uint16 operand(s) for ≤ (max), ≥ (min) and within_range (min, max); filter type 0x01. */
  min?: number | undefined;
  max?: number | undefined;
}

/** Encodes a RACP request. Bad combinations are caller bugs: RangeError. */
export function encodeRacpRequest(req: RacpRequest): Uint8Array {
  const w = new ByteWriter().u8(RACP_OP_CODES[req.opCode]).u8(RACP_OPERATORS[req.operator]);
  switch (req.operator) {
    case "less_or_equal":
      if (req.max === undefined) throw new RangeError("less_or_equal needs max");
      w.u8(RACP_FILTER_SEQUENCE_NUMBER).u16(req.max, "max");
      break;
    case "greater_or_equal":
      if (req.min === undefined) throw new RangeError("greater_or_equal needs min");
      w.u8(RACP_FILTER_SEQUENCE_NUMBER).u16(req.min, "min");
      break;
    case "within_range":
      if (req.min === undefined || req.max === undefined)
        throw new RangeError("within_range needs min and max");
      w.u8(RACP_FILTER_SEQUENCE_NUMBER).u16(req.min, "min").u16(req.max, "max");
      break;
    default:
      if (req.min !== undefined || req.max !== undefined)
        throw new RangeError(`${req.operator} takes no operand`);
  }
  return w.toBytes();
}

/** "Get everything" = `01 01` [clinical.md §1.7.1]. */
export function racpReportAll(): Uint8Array {
  return encodeRacpRequest({ opCode: "report_stored_records", operator: "all" });
}

/** "Get everything since seq N" = `01 03 01 <N LE16>`: pass the last sequence number persisted per device (+1). */
export function racpReportFrom(sequenceNumber: number): Uint8Array {
  return encodeRacpRequest({
    opCode: "report_stored_records",
    operator: "greater_or_equal",
    min: sequenceNumber,
  });
}

export type RacpResponse =
  | { type: "number_of_records"; count: number }
  | { type: "response_code"; requestOpCode: number; responseCode: number; response: RacpResponseName };

/** Decodes a RACP indication. Throws only DecodeError (frame_too_short, unknown_op_code). */
export function decodeRacpResponse(bytes: Uint8Array): RacpResponse {
  const r = new ByteReader(bytes);
  const op = r.u8("op code");
  const operator = r.u8("operator");
  if (op === RACP_OP_CODES.number_of_records_response) {
    // [clinical.md §1.7.1] operator is Null (0x00) in responses; RFU values are ignored, not rejected
    void operator;
    return { type: "number_of_records", count: r.u16("number of records") };
  }
  if (op === RACP_OP_CODES.response_code) {
    const requestOpCode = r.u8("request op code");
    const responseCode = r.u8("response code");
    const response = Object.hasOwn(RACP_RESPONSE_CODES, responseCode)
      ? RACP_RESPONSE_CODES[responseCode as keyof typeof RACP_RESPONSE_CODES]
      : "unknown";
    return { type: "response_code", requestOpCode, responseCode, response };
  }
  throw new DecodeError(
    "unknown_op_code",
    `RACP indication op code 0x${op.toString(16)} is not a response`,
    0,
  );
}
