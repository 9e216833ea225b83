import { userInfo } from "node:os";
import { GatewayError } from "../errors.js";
import { DEVICE_ID_PATTERN, SUBJECT_ID_PATTERN, USER_ID_PATTERN } from "../identifiers.js";

/**
 * Checks the shape of an id flag before anything is opened, so a typo is a usage error (exit 64) and not an
 * assertion deeper down. Returns the value unchanged (undefined stays undefined).
 */
export function idFlag(value: string | undefined, name: "id" | "device" | "subject"): string | undefined {
  const isSubject = name === "subject";
  const pattern = isSubject ? SUBJECT_ID_PATTERN : DEVICE_ID_PATTERN;
  if (value !== undefined && !pattern.test(value)) {
    const shape = isSubject ? "1–128 of A-Z a-z 0-9 . _ : -" : "1–64 of A-Z a-z 0-9 . _ -";
    throw new GatewayError(
      "USAGE",
      `--${name} ${JSON.stringify(value)} is not a ${isSubject ? "subject" : "device"} id (${shape}, starting with a letter or digit)`,
    );
  }
  return value;
}

/** "90s", "15m", "2h", "1d" ago, an ISO-8601 instant, or epoch milliseconds → epoch ms. */
export function parseSince(text: string, nowMs: number): number {
  const rel = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text);
  if (rel) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as "s" | "m" | "h" | "d"];
    return nowMs - Number(rel[1]) * unit;
  }
  if (/^\d{10,}$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new GatewayError("USAGE", `--since ${JSON.stringify(text)}: use 15m, 2h, an ISO time or epoch ms`);
  return ms;
}

export function requireFlag(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw new GatewayError("USAGE", `--${name} is required`);
  return value;
}

/** Longest `--reason` a state-changing command records. */
export const MAX_REASON_CHARS = 256;

/**
 * Who a state-changing command acts as, and why: `--by` (default: the login that ran it, through sudo too) and
 * `--reason`, recorded `via: "cli"`. Only the form is checked here; whether that user may act is the caller's.
 */
export function cliActor(
  by: string | undefined,
  reason: string | undefined,
): { via: "cli"; by: string; reason?: string } {
  const person = by ?? process.env.SUDO_USER ?? userInfo().username;
  if (!USER_ID_PATTERN.test(person)) {
    throw new GatewayError(
      "USAGE",
      `--by must be a user id (1–64 of A-Z a-z 0-9 . _ @ -), got ${JSON.stringify(person)}`,
    );
  }
  if (reason !== undefined && (reason.length === 0 || reason.length > MAX_REASON_CHARS)) {
    throw new GatewayError("USAGE", `--reason must be 1–${MAX_REASON_CHARS} characters`);
  }
  return { via: "cli", by: person, ...(reason !== undefined ? { reason } : {}) };
}
