/**
 * The log events that record who a device speaks for and with what credential. The `devices` table is what
 * the gateway acts on; these events are what it can prove: `audit` replays them in log order and names
 * every difference from the table (a row re-bound, re-keyed, added or removed behind the gateway's back).
 *
 * Each event's `subjectId` is the subject the event is about, so its record is sealed under that subject's
 * key and an erasure shreds it (a re-binding is therefore two events: unbound from the old subject, bound
 * to the new one; neither names the other subject). `data` never holds a password: `credential` is the
 * SHA-256 of the stored scrypt hash string, enough to tell that the table's hash is the one logged.
 *
 *   device_bound             { model, credential, via, by?, reason? }   subject = the new subject
 *   device_unbound           { cause, via, by?, reason? }              subject = the former subject
 *   device_credential_changed{ credential, via, by?, reason? }         subject = the current subject
 *
 * `via` names the path the change took: "cli" (a `vitalog devices` command), "config" (the config file's
 * `devices:` list at start-up) or "adopted" (`vitalog tlog adopt-unlogged`: a binding found in the table
 * without a logged history, put in the log by an operator). `cause` of an unbinding is "removed" or
 * "rebound". Wire names are only ever added to.
 */
import { createHash } from "node:crypto";

export const DEVICE_BOUND = "device_bound";
export const DEVICE_UNBOUND = "device_unbound";
export const DEVICE_CREDENTIAL_CHANGED = "device_credential_changed";

/** The event types above, for readers that replay them. */
export const DEVICE_EVENT_TYPES: ReadonlySet<string> = new Set([
  DEVICE_BOUND,
  DEVICE_UNBOUND,
  DEVICE_CREDENTIAL_CHANGED,
]);

export type DeviceChangeVia = "cli" | "config" | "adopted";
export type UnbindCause = "removed" | "rebound";

/** SHA-256 (hex) of a stored password hash string, as logged in `credential`. */
export function credentialDigest(passwordHash: string): string {
  return createHash("sha256").update(passwordHash, "utf8").digest("hex");
}

/** Who made a change and why, as recorded (both optional: the config file names no person). */
export interface DeviceChangeActor {
  readonly via: DeviceChangeVia;
  readonly by?: string | undefined;
  readonly reason?: string | undefined;
}

/** An event as handed to the log writer (`LogEvent` / `AuditEvent` shape). */
export interface DeviceLogEvent {
  readonly type: string;
  readonly atMs: number;
  readonly subjectId: string;
  readonly deviceId: string;
  readonly data: Readonly<Record<string, unknown>>;
}

function actorData(actor: DeviceChangeActor): Record<string, unknown> {
  return {
    via: actor.via,
    ...(actor.by !== undefined ? { by: actor.by } : {}),
    ...(actor.reason !== undefined ? { reason: actor.reason } : {}),
  };
}

export function deviceBound(
  d: { deviceId: string; subjectId: string; model: string | null; passwordHash: string },
  actor: DeviceChangeActor,
  atMs: number,
): DeviceLogEvent {
  return {
    type: DEVICE_BOUND,
    atMs,
    subjectId: d.subjectId,
    deviceId: d.deviceId,
    data: { model: d.model, credential: credentialDigest(d.passwordHash), ...actorData(actor) },
  };
}

export function deviceUnbound(
  d: { deviceId: string; subjectId: string },
  cause: UnbindCause,
  actor: DeviceChangeActor,
  atMs: number,
): DeviceLogEvent {
  return {
    type: DEVICE_UNBOUND,
    atMs,
    subjectId: d.subjectId,
    deviceId: d.deviceId,
    data: { cause, ...actorData(actor) },
  };
}

export function deviceCredentialChanged(
  d: { deviceId: string; subjectId: string; passwordHash: string },
  actor: DeviceChangeActor,
  atMs: number,
): DeviceLogEvent {
  return {
    type: DEVICE_CREDENTIAL_CHANGED,
    atMs,
    subjectId: d.subjectId,
    deviceId: d.deviceId,
    data: { credential: credentialDigest(d.passwordHash), ...actorData(actor) },
  };
}
