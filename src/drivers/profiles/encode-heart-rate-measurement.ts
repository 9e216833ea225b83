/** Encoder for Heart Rate Measurement 0x2A37 (simulators, tests) [clinical.md §1.3]. RFU bits written as 0. */
import { ByteWriter } from "./byte-reader.js";
import type { SensorContact } from "./gatt-heart-rate-measurement.js";

export interface HeartRateMeasurementFields {
  heartRate: number;
  /** Default: uint8 when heartRate ≤ 255. */
  format?: "uint8" | "uint16" | undefined;
  /** Default "not_supported" (bits 00). */
  sensorContact?: SensorContact | undefined;
  energyExpendedKj?: number | undefined;
  /** In 1/1024 s, oldest first. An empty array still sets the "RR present" flag. */
  rrIntervalsRaw?: readonly number[] | undefined;
}

export function encodeHeartRateMeasurement(f: HeartRateMeasurementFields): Uint8Array {
  const format = f.format ?? (f.heartRate > 0xff ? "uint16" : "uint8");
  const contact = { not_supported: 0, not_detected: 2, detected: 3 }[f.sensorContact ?? "not_supported"];
  let flags = (format === "uint16" ? 0x01 : 0) | (contact << 1);
  if (f.energyExpendedKj !== undefined) flags |= 0x08;
  if (f.rrIntervalsRaw !== undefined) flags |= 0x10;
  const w = new ByteWriter().u8(flags);
  if (format === "uint16") w.u16(f.heartRate, "heart rate");
  else w.u8(f.heartRate, "heart rate");
  if (f.energyExpendedKj !== undefined) w.u16(f.energyExpendedKj, "energy expended");
  for (const rr of f.rrIntervalsRaw ?? []) w.u16(rr, "RR interval");
  return w.toBytes();
}
