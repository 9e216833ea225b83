/**
 * CGM E2E-CRC. The SIG XML calls it CRC-CCITT (D^16+D^12+D^5+1, seed 0xFFFF); as verified against the Nordic
 * vector it is CRC-16/MCRF4XX: reflected polynomial 0x8408, init 0xFFFF, refin/refout, xorout 0, stored LE
 * [clinical.md §1.9]. The non-reflected CCITT-FALSE variant gives the wrong answer (0xA0C3 vs 0x3F8E).
 */
export function crc16Mcrf4xx(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]!;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc;
}
