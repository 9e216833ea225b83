/**
 * GATT Date Time (0x2A08), 7 octets: year uint16, month, day, hours, minutes, seconds [clinical.md §1.1].
 * The value is the device's local wall-clock time with no zone: it is converted to UTC with the device's
 * configured offset (`DecodeContext.deviceUtcOffsetMin`, default 0).
 */
import type { ByteReader, ByteWriter } from "./byte-reader.js";
import { DecodeError } from "./decode-error.js";

/** The seven fields exactly as on the wire (0 in year/month/day = "not known"). */
export interface DateTimeFields {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}

/** A decoded Date Time: an instant, or none with the reason the device gave none. */
export type DeviceTime =
  | { readonly known: true; readonly ms: number; readonly fields: DateTimeFields }
  | {
      readonly known: false;
      readonly reason: "year_unknown" | "month_unknown" | "day_unknown";
      readonly fields: DateTimeFields;
    };

export const DATE_TIME_OCTETS = 7;

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one (proleptic Gregorian, as the GATT range starts in 1582).
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Interprets the fields. Year/month/day 0 → no timestamp [clinical.md §1.1]; any other out-of-range field
 * (year 1–1581 or > 9999, month > 12, day beyond the month, hour > 23, minute or second > 59) is a malformed
 * frame: DecodeError("invalid_date_time") [clinical.md §6 "Any timestamp"].
 */
export function interpretDateTime(fields: DateTimeFields, utcOffsetMin = 0, offset?: number): DeviceTime {
  const { year, month, day, hours, minutes, seconds } = fields;
  const bad = (what: string) =>
    new DecodeError("invalid_date_time", `Date Time ${what} out of range: ${JSON.stringify(fields)}`, offset);
  if (year !== 0 && (year < 1582 || year > 9999)) throw bad("year");
  if (month > 12) throw bad("month");
  if (hours > 23) throw bad("hours");
  if (minutes > 59) throw bad("minutes");
  if (seconds > 59) throw bad("seconds");
  if (day > 31) throw bad("day");
  // [clinical.md §1.1] 0 = not known; the instant is then unknown, but the frame is well-formed
  if (year === 0) return { known: false, reason: "year_unknown", fields };
  if (month === 0) return { known: false, reason: "month_unknown", fields };
  if (day === 0) return { known: false, reason: "day_unknown", fields };
  if (day > daysInMonth(year, month)) throw bad("day");
  const utc = Date.UTC(year, month - 1, day, hours, minutes, seconds);
  return { known: true, ms: utc - utcOffsetMin * 60_000, fields };
}

/** Reads the 7 octets at the reader's position and interprets them. */
export function readDateTime(r: ByteReader, utcOffsetMin = 0): DeviceTime {
  const at = r.offset;
  r.need(DATE_TIME_OCTETS, "Date Time");
  const fields: DateTimeFields = {
    year: r.u16("year"),
    month: r.u8("month"),
    day: r.u8("day"),
    hours: r.u8("hours"),
    minutes: r.u8("minutes"),
    seconds: r.u8("seconds"),
  };
  return interpretDateTime(fields, utcOffsetMin, at);
}

/** Device-local wall-clock fields for an instant, given the device's UTC offset. */
export function dateTimeFieldsFromMs(ms: number, utcOffsetMin = 0): DateTimeFields {
  const d = new Date(ms + utcOffsetMin * 60_000);
  if (Number.isNaN(d.getTime())) throw new RangeError("not a valid instant");
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hours: d.getUTCHours(),
    minutes: d.getUTCMinutes(),
    seconds: d.getUTCSeconds(),
  };
}

/** Writes the 7 octets. Accepts raw fields (so tests can write "not known" zeros) or an instant in ms. */
export function writeDateTime(w: ByteWriter, time: DateTimeFields | number, utcOffsetMin = 0): void {
  const f = typeof time === "number" ? dateTimeFieldsFromMs(time, utcOffsetMin) : time;
  w.u16(f.year, "year").u8(f.month, "month").u8(f.day, "day");
  w.u8(f.hours, "hours").u8(f.minutes, "minutes").u8(f.seconds, "seconds");
}
