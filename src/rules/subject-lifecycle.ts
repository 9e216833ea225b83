/**
 * Alarms end with their patient, in the running daemon.
 *
 * - Devices: whenever the registry may have changed (a `devices_changed` request, a frame refused at commit for
 *   a binding that no longer holds, and every {@link RECONCILE_MS} for a change made without word), the bindings
 *   the rule engine watches are brought in line with the registry: a removed or re-bound device's technical
 *   alarms are resolved at once with the reason, and a removed device is no longer watched, so it raises no
 *   device-silent alarm (engine.ts `deviceBindingChanged`). A `vitalog devices … --by USER` command names who
 *   made the change: its resolutions are attributed to that user, via `cli`. A device removed or re-bound while
 *   the daemon was stopped ends its restored alarms at start-up, with the same reasons, before any tick
 *   (engine.ts `restoreAlerts`, which reads the registry through `setDeviceBindings`); attributed, via `cli`, to
 *   the user the log's `device_unbound` event names, when the log is on (the registry row is gone).
 * - Erasure: `vitalog subjects erase` asks the daemon first (control op {@link SUBJECT_ERASE_OP}), before it
 *   purges the tables and shreds the key (batcher/tlog/erasure.ts). The daemon resolves every alert of the subject
 *   ("patient record erased"), creates nothing for it from then on, waits until those resolutions are committed
 *   (so the purge that follows finds every row, and no row lands after it), drops the subject's messages still
 *   queued for the durable sinks, and clears its retained MQTT topics (each alert's, its NEWS2, and the active
 *   set republished without it). Only then does it answer; the command erases the stored record after.
 *   From then on a frame stamped with the subject (a device bound to the id behind the registry's back: the
 *   registry itself refuses such a binding) is refused `subject_erased` at ingest, counted and recorded like any
 *   refusal, and the subject is recognised as erased after a restart too (the log's tombstone).
 */
import { scanLoggedEvents } from "../batcher/tlog/audit-events.js";
import type { Tlog } from "../batcher/tlog/open-tlog.js";
import type { Clock } from "../clock.js";
import { type ControlOps, ControlRefusal, type DeviceDirectory, type EventRecorder } from "../core/ports.js";
import type { Service } from "../core/service.js";
import type { Db } from "../db.js";
import { DEVICE_UNBOUND } from "../drivers/device-events.js";
import type { InputRejection } from "../drivers/ingest.js";
import { SUBJECT_ID_PATTERN, USER_ID_PATTERN } from "../identifiers.js";
import type { Logger } from "../log.js";
import type { ActorContext } from "./commands.js";
import type { RuleEngine } from "./engine.js";
import type { AlertSink } from "./sinks/alert-sink.js";
import { DeliveryQueue } from "./sinks/delivery-queue.js";
import { MqttAlertSink } from "./sinks/mqtt-sink.js";

/** The control op `vitalog subjects erase` sends: `{ op, subject_id, by? }`. */
export const SUBJECT_ERASE_OP = "subject_erase";
/** How a frame of an erased subject is refused (wire reason, only ever added to). */
export const SUBJECT_ERASED_REFUSAL = {
  reason: "subject_erased",
  detail: "the record of the subject the device is bound to was erased: nothing new is kept for it",
} as const;

/** Resolve text of every alert of an erased subject. */
export const ERASED_REASON = "patient record erased";
/**
 * How often the watched bindings are compared with the registry when nobody said it changed: as often as the
 * gateway's session sweep (gateway.ts), local engineering choice, to be reviewed.
 */
export const RECONCILE_MS = 5000;

/** What the `subject_erase` op answers (counts only: the reply names no subject). */
export interface SubjectEraseReply extends Record<string, unknown> {
  /** Alerts resolved now (0 when the subject had none, or was erased already in this run). */
  resolved: number;
  /** Messages of the subject still queued for the durable sinks, dropped. */
  queued_dropped: number;
  /** Retained topics cleared: one per alert the tables hold for the subject, plus its NEWS2 topic. */
  retained_cleared: number;
}

/** Most subject ids whose erasure lookup is remembered (then the memory starts afresh). */
const MAX_REMEMBERED_SUBJECTS = 10_000;

/** What the transitions a command of the `vitalog` CLI causes are recorded as coming through (`via`). */
export const CLI_VIA = "cli";

/** What the subject life cycle needs from the gateway. */
export interface SubjectLifecycleDeps {
  readonly clock: Clock;
  readonly control: ControlOps;
  readonly db: Db;
  readonly devices: DeviceDirectory;
  readonly events: EventRecorder;
  /** Installs ingest's check of a frame's subject (a refusal, or undefined to accept). */
  readonly setSubjectGate: (gate: (subjectId: string) => InputRejection | undefined) => void;
}

/**
 * Wires device changes and the erase op for a gateway's rule engine; call from the rules composition. `tlog`: the
 * attached log, whose tombstones let the engine recognise subjects erased before this process started. `actor`:
 * the context the alert listener stamps `via` from (commands.ts), set to {@link CLI_VIA} while a CLI command's
 * change is applied.
 */
export function createSubjectLifecycle(
  gw: SubjectLifecycleDeps,
  engine: RuleEngine,
  sinks: readonly AlertSink[],
  log: Logger,
  tlog?: Tlog,
  actor?: ActorContext,
): { services: Service[] } {
  if (tlog) engine.setErasedLookup(erasedLookup(tlog, log));
  /** Runs `apply` with the CLI as the `via` of the transitions it causes, when a user is named. */
  const asCli = <T>(by: string | null, apply: () => T): T => {
    if (by === null || actor === undefined) return apply();
    actor.via = CLI_VIA;
    try {
      return apply();
    } finally {
      actor.via = null;
    }
  };
  // read once the alerts are restored at start-up: a device changed while the daemon was stopped
  engine.setDeviceBindings(() => {
    let bindings: Map<string, string>;
    try {
      bindings = new Map(gw.devices.list().map((d) => [d.id, d.subjectId]));
    } catch (err) {
      // unreadable now: the restored alarms stay until the first comparison that can read it (reconcile below)
      log.warn({ err: (err as Error).message }, "device bindings not compared with the restored alarms");
      return undefined;
    }
    // the changes a user made with `vitalog devices … --by` are resolved as theirs; the engine resolves the rest
    if (tlog) {
      for (const [deviceId, by] of loggedUnbinders(engine, bindings, tlog, log))
        asCli(by, () => engine.releaseUnboundDevices(bindings, by, deviceId));
    }
    return bindings;
  });
  // a frame stamped with an erased subject (its device bound to the id behind the registry's back): refused, named
  gw.setSubjectGate((subjectId) => (engine.isSubjectErased(subjectId) ? SUBJECT_ERASED_REFUSAL : undefined));
  const reconcile = () => {
    try {
      reconcileBindings(engine, gw.devices.list());
    } catch (err) {
      // the registry unreadable: the watched bindings stay until it is back (the session sweep says so too)
      log.warn({ err: (err as Error).message }, "device bindings not compared with the registry");
    }
  };
  gw.devices.onChanged((deviceId, by) => {
    // the device named first: one provisioned and removed between two comparisons was never watched
    try {
      const subjectId = gw.devices.get(deviceId)?.subjectId ?? null;
      asCli(by, () => {
        engine.deviceBindingChanged(deviceId, subjectId, by);
        // an alarm of the device still open for a former subject (restored, or raised from a racing frame)
        const bindings = new Map<string, string>(subjectId === null ? [] : [[deviceId, subjectId]]);
        engine.releaseUnboundDevices(bindings, by, deviceId);
      });
    } catch (err) {
      log.warn({ deviceId, err: (err as Error).message }, "device binding not read from the registry");
    }
    // the others, changed without word: nobody to name
    reconcile();
  });
  const alertIdsOf = gw.db
    .prepare<[string], string>("SELECT alert_id FROM alerts WHERE subject_id = ?")
    .pluck();
  gw.control.handle(SUBJECT_ERASE_OP, async (args): Promise<SubjectEraseReply> => {
    const subjectId = args.subject_id;
    if (typeof subjectId !== "string" || !SUBJECT_ID_PATTERN.test(subjectId))
      throw new ControlRefusal("bad_request", "subject_id must be a subject id");
    const by = args.by ?? null;
    if (by !== null && (typeof by !== "string" || !USER_ID_PATTERN.test(by)))
      throw new ControlRefusal("bad_request", "by must be a user id");
    const bound = gw.devices.list().filter((d) => d.subjectId === subjectId);
    if (bound.length > 0) {
      throw new ControlRefusal(
        "device_exists",
        `device(s) ${bound.map((d) => d.id).join(", ")} still bound to the subject; remove them first (vitalog devices remove)`,
      );
    }
    const resolved = asCli(by, () => engine.eraseSubject(subjectId, by, ERASED_REASON));
    try {
      await gw.events.barrier();
    } catch (err) {
      // the subject stays blocked here; the command erases nothing and says the daemon's state is unknown
      throw new ControlRefusal(
        "commit_failed",
        `the subject's alarms were ended, but their resolution could not be committed: ${(err as Error).message}`,
      );
    }
    let dropped = 0;
    for (const sink of sinks) if (sink instanceof DeliveryQueue) dropped += sink.purgeSubject(subjectId);
    const alertIds = alertIdsOf.all(subjectId);
    for (const sink of sinks) if (sink instanceof MqttAlertSink) sink.clearSubject(subjectId, alertIds);
    log.info(
      { resolved, queuedDropped: dropped, alerts: alertIds.length },
      "subject erased from the live alarms",
    );
    return { resolved, queued_dropped: dropped, retained_cleared: alertIds.length + 1 };
  });
  return { services: [reconcileService(gw, reconcile)] };
}

/**
 * Whether a subject id is that of a subject erased from the log (a tombstone carries its tag, and no key was made
 * for the id since), remembered per id: a subject is not erased behind the daemon's back (the command asks the
 * daemon first), so an answer stays true for the life of the process.
 */
function erasedLookup(tlog: Tlog, log: Logger): (subjectId: string) => boolean {
  const known = new Map<string, boolean>();
  const query = tlog.db
    .prepare<[Buffer, string], number>(
      `SELECT EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_tag = ? AND erased_at_ms IS NOT NULL)
        AND NOT EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_id = ?)`,
    )
    .pluck();
  return (subjectId) => {
    const hit = known.get(subjectId);
    if (hit !== undefined) return hit;
    let isErased: boolean;
    try {
      isErased = query.get(tlog.records.keys.tag(subjectId), subjectId) === 1;
    } catch (err) {
      // unreadable now: judged as not erased this once (the key guard still refuses to store anything of it)
      log.warn({ err: (err as Error).message }, "erased-subject lookup failed");
      return false;
    }
    if (known.size >= MAX_REMEMBERED_SUBJECTS) known.clear();
    known.set(subjectId, isErased);
    return isErased;
  };
}

/**
 * Who unbound each device whose restored alarms no longer match `bindings` (the registry at start-up): the user
 * of the device's last `device_unbound` event from the subject of such an alarm, made through the CLI, logged
 * since the oldest of those alarms was raised (an unbinding before it cannot have ended it). The registry row is
 * gone, so the log is the only record of the actor. An unreadable log names nobody.
 */
function loggedUnbinders(
  engine: RuleEngine,
  bindings: ReadonlyMap<string, string>,
  tlog: Tlog,
  log: Logger,
): Map<string, string> {
  const subjectsOf = new Map<string, Set<string>>();
  let sinceMs = Number.POSITIVE_INFINITY;
  for (const a of engine.activeAlerts({ category: "technical" })) {
    if (a.device_id === null || bindings.get(a.device_id) === a.subject_id) continue;
    const subjects = subjectsOf.get(a.device_id) ?? new Set<string>();
    subjects.add(a.subject_id);
    subjectsOf.set(a.device_id, subjects);
    sinceMs = Math.min(sinceMs, a.raised_at_ms);
  }
  const byDevice = new Map<string, string>();
  if (subjectsOf.size === 0) return byDevice;
  try {
    scanLoggedEvents(
      tlog.db,
      tlog.records.keys,
      (e) => {
        if (e.type !== DEVICE_UNBOUND || e.deviceId === null || e.subjectId === null) return;
        if (subjectsOf.get(e.deviceId)?.has(e.subjectId) !== true) return;
        const by = e.data.by;
        // a later unbinding by nobody named (the config file's list) takes the attribution away again
        if (e.data.via === CLI_VIA && typeof by === "string" && USER_ID_PATTERN.test(by))
          byDevice.set(e.deviceId, by);
        else byDevice.delete(e.deviceId);
      },
      { sinceMs },
    );
  } catch (err) {
    log.warn({ err: (err as Error).message }, "device unbindings not read from the log");
    byDevice.clear();
  }
  return byDevice;
}

/**
 * Brings the engine's watched bindings in line with `devices` (the registry now): a device gone is removed, one
 * bound elsewhere is re-bound, one new is watched; and a technical alarm still open for a device no longer bound
 * to its subject (one restored, or raised from a frame that raced the change) is resolved with the same reasons.
 * `by`: who made the change, when known.
 */
export function reconcileBindings(
  engine: RuleEngine,
  devices: readonly { id: string; subjectId: string }[],
  by: string | null = null,
): void {
  const bound = new Map(devices.map((d) => [d.id, d.subjectId]));
  for (const deviceId of [...engine.watchedDevices().keys()]) {
    if (!bound.has(deviceId)) engine.deviceBindingChanged(deviceId, null, by);
  }
  for (const [deviceId, subjectId] of bound) engine.deviceBindingChanged(deviceId, subjectId, by);
  engine.releaseUnboundDevices(bound, by);
}

function reconcileService(gw: { readonly clock: Clock }, reconcile: () => void): Service {
  let timer: unknown = null;
  let stopped = false;
  const run = () => {
    timer = null;
    if (stopped) return;
    reconcile();
    timer = gw.clock.setTimeout(run, RECONCILE_MS);
  };
  return {
    name: "device_bindings",
    async start() {
      timer = gw.clock.setTimeout(run, RECONCILE_MS);
    },
    async stop() {
      stopped = true;
      if (timer !== null) gw.clock.clearTimeout(timer);
    },
  };
}
