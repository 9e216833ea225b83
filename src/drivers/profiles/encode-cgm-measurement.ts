/** Encoder for CGM Measurement 0x2AA7 records, with optional E2E-CRC (CRC-16/MCRF4XX) [clinical.md §1.9]. */
import { ByteWriter } from "./byte-reader.js";
import { crc16Mcrf4xx } from "./crc16-mcrf4xx.js";
import { encodeSfloat, type MderInput } from "./ieee11073.js";

export interface CgmRecordFields {
  /** mg/dL. */
  glucose: MderInput;
  timeOffsetMin: number;
  statusOctet?: number | undefined;
  calTempOctet?: number | undefined;
  warningOctet?: number | undefined;
  trend?: MderInput | undefined;
  quality?: MderInput | undefined;
  /** Append the E2E-CRC (CGM Feature bit 12). */
  e2eCrc?: boolean | undefined;
}

export function encodeCgmRecord(f: CgmRecordFields): Uint8Array {
  let flags = 0;
  if (f.trend !== undefined) flags |= 0x01;
  if (f.quality !== undefined) flags |= 0x02;
  if (f.warningOctet !== undefined) flags |= 0x20;
  if (f.calTempOctet !== undefined) flags |= 0x40;
  if (f.statusOctet !== undefined) flags |= 0x80;
  const body = new ByteWriter().u8(flags).u16(encodeSfloat(f.glucose)).u16(f.timeOffsetMin, "time offset");
  if (f.statusOctet !== undefined) body.u8(f.statusOctet, "SSA status");
  if (f.calTempOctet !== undefined) body.u8(f.calTempOctet, "SSA cal/temp");
  if (f.warningOctet !== undefined) body.u8(f.warningOctet, "SSA warning");
  if (f.trend !== undefined) body.u16(encodeSfloat(f.trend));
  if (f.quality !== undefined) body.u16(encodeSfloat(f.quality));
  const size = 1 + body.length + (f.e2eCrc ? 2 : 0);
  const record = new ByteWriter().u8(size, "size").bytes(body.toBytes());
  if (f.e2eCrc) record.u16(crc16Mcrf4xx(record.toBytes()), "E2E-CRC");
  return record.toBytes();
}

/** One notification holding several records back to back. */
export function encodeCgmMeasurement(records: readonly CgmRecordFields[]): Uint8Array {
  const parts = records.map(encodeCgmRecord);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
