/**
 * The `alerts` service: runs the rule engine's timers and, at start, restores what the engine needs after a
 * restart (the alerts not resolved, recent clinician observations), as the log's events support them when the
 * log is on (sinks/alert-log-restore.ts), else from the tables; rows the log does not support are reported.
 */
import { ErasedSubjects, scanLoggedEvents } from "../batcher/tlog/audit-events.js";
import type { Tlog } from "../batcher/tlog/open-tlog.js";
import type { Clock } from "../clock.js";
import type { DeviceDirectory, EventRecorder } from "../core/ports.js";
import type { Service } from "../core/service.js";
import type { Db } from "../db.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { AlertSnapshot } from "./alert-event.js";
import type { RuleEngine } from "./engine.js";
import type { ClinicianObservation } from "./rule.js";
import { lastRecordedStates, OUTBOX_SINKS_SCOPE, outboxSinksState } from "./rules-in-force-writer.js";
import {
  type LoggedEventSource,
  type RestoreDiscrepancy,
  restoreFromLog,
  type VerifiedRestore,
} from "./sinks/alert-log-restore.js";
import type { AlertMessage } from "./sinks/alert-message.js";
import { type AlertStore, OUTBOX_RETENTION_MS } from "./sinks/alert-store.js";

/** How often the engine's timers (persistence, hold, silence, escalation, silent devices) are run. */
const TICK_MS = 500;
/** Clinician observations younger than this are replayed into NEWS2 at start-up (max ACVPU age is 4 h). */
const OBSERVATION_REPLAY_MS = 24 * 3600_000;

/** What the rules service needs from the gateway. */
export interface RulesServiceDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly db: Db;
  readonly events: EventRecorder;
  readonly devices: DeviceDirectory;
}

/** What the rules service restored at start-up. */
export interface RestoreState {
  restored: number;
  /** The last message of each restored alert (republished by the MQTT sink as its retained topic). */
  messages: AlertMessage[];
}

/** Most rows a failing health check names (the error log has every one). */
const MAX_NAMED_DISCREPANCIES = 5;

/** The log's events as the restore reads them, over the gateway's connection. */
export function loggedEvents(tlog: Tlog): LoggedEventSource {
  let erased: ErasedSubjects | undefined;
  return {
    scan: (sinceMs, visit) => {
      scanLoggedEvents(tlog.db, tlog.records.keys, visit, { sinceMs });
    },
    isErased: (subjectId, atMs) => {
      erased ??= new ErasedSubjects(tlog.db, tlog.records.keys);
      return erased.covers(subjectId, atMs);
    },
  };
}

/** What to restore at start-up, and the rows that disagreed with the log (none without a log). */
function restoredState(
  store: AlertStore,
  logged: LoggedEventSource | undefined,
  nowMs: number,
  observedSinceMs: number,
  log: Logger,
): Omit<VerifiedRestore, "observations"> & { observations?: ClinicianObservation[] } {
  const tables = () => {
    try {
      return store.restorable();
    } catch (err) {
      log.error({ err }, "active alerts not restored");
      return { alerts: [], messages: [] };
    }
  };
  if (logged === undefined) return { ...tables(), discrepancies: [] };
  try {
    return restoreFromLog(store, logged, nowMs, observedSinceMs);
  } catch (err) {
    // an unreadable log must not cost the ward its alarms: the tables, unchecked, and a failing check
    log.error({ err }, "the log could not be read to check the alert state; restoring the tables unchecked");
    const problem = `the log could not be read: ${(err as Error).message}`;
    return { ...tables(), discrepancies: [{ table: "alerts", ref: null, problem }] };
  }
}

/**
 * Reports rows that the log did not support at start-up (sinks/alert-log-restore.ts): one error line each,
 * `vitalog_restore_discrepancies_total` per table, and (through `into`) the `restored_state` health check
 * failing with the first rows named for as long as this process runs.
 */
function reportDiscrepancies(
  gw: Pick<RulesServiceDeps, "log" | "metrics">,
  found: readonly RestoreDiscrepancy[],
  into: RestoreDiscrepancy[],
): void {
  const log = gw.log.child({ module: "rules" });
  const counter = gw.metrics.counter(
    "vitalog_restore_discrepancies_total",
    "Rows found at start-up that the tamper-evident log does not support (the log's state was restored)",
  );
  for (const d of found) {
    counter({ table: d.table });
    log.error(
      { table: d.table, ref: d.ref, problem: d.problem },
      "stored alert state disagrees with the log; the logged state was restored",
    );
  }
  into.push(...found);
}

/** The `restored_state` health check's problem: the rows the log did not support at start-up. */
export function discrepancyProblem(found: readonly RestoreDiscrepancy[]): string | undefined {
  {
    if (found.length === 0) return undefined;
    const named = found
      .slice(0, MAX_NAMED_DISCREPANCIES)
      .map((d) => `${d.table} ${d.ref ?? "(no row)"}: ${d.problem}`);
    const more = found.length > named.length ? ` and ${found.length - named.length} more` : "";
    return `${found.length} stored row(s) disagreed with the log at start-up (${named.join("; ")}${more}); run vitalog audit`;
  }
}

/**
 * Runs the engine's timers and restores what the engine needs after a restart: the alerts not resolved (it is
 * registered before the sinks, so they publish the restored active set when they start) and the recent
 * clinician observations, as the log's events support them when the log is on (sinks/alert-log-restore.ts),
 * else from the tables.
 */
export function rulesService(
  gw: RulesServiceDeps,
  engine: RuleEngine,
  store: AlertStore,
  restore: RestoreState,
  logged: LoggedEventSource | undefined,
  discrepancies: RestoreDiscrepancy[],
): Service {
  let timer: unknown = null;
  let stopped = false;
  const tick = () => {
    timer = null;
    if (stopped) return;
    try {
      engine.tick();
    } finally {
      timer = gw.clock.setTimeout(tick, TICK_MS);
    }
  };
  return {
    name: "alerts",
    async start() {
      const now = gw.clock.now();
      const log = gw.log.child({ module: "rules" });
      // first: every transition of this run (the restore's included) is logged after the sinks it is due for
      // logged when the set differs from the last one logged: an event at every start would make every restart
      // a new checkpoint and a new anchor transaction
      const sinksEvent = store.sinksEvent(now);
      const sinksState = outboxSinksState(sinksEvent.data.sinks as string[]);
      if (logged === undefined || lastRecordedStates(gw.db).get(OUTBOX_SINKS_SCOPE) !== sinksState)
        gw.events.record(sinksEvent);
      const observedSince = now - OBSERVATION_REPLAY_MS;
      // with the log on, only what its events support is restored (sinks/alert-log-restore.ts)
      // a state that cannot be restored must not stop alerting: the rules start without it, loudly
      let state: ReturnType<typeof restoredState> | undefined;
      try {
        state = restoredState(store, logged, now, observedSince, log);
        const found = state.discrepancies;
        if (logged) reportDiscrepancies(gw, found, discrepancies);
        const result = engine.restoreAlerts(state.alerts);
        const held = new Set(engine.activeAlerts().map((a) => a.alert_id));
        restore.restored = result.restored;
        restore.messages = state.messages.filter((m) => held.has(m.alert_id));
        log.info(
          { disagreeing: found.length, restored: result.restored, skipped: result.skipped },
          "active alerts restored",
        );
      } catch (err) {
        log.error({ err }, "active alerts not restored");
      }
      try {
        for (const o of state?.observations ?? store.observationsSince(observedSince))
          engine.onClinicianObservation(o);
        store.prune(now - OUTBOX_RETENTION_MS);
      } catch (err) {
        gw.log.error({ err, module: "rules" }, "alert state not restored");
      }
      // devices bound now are watched from now on, so one that never speaks raises device_silent
      for (const d of gw.devices.list()) engine.watchDevice(d.id, d.subjectId);
      timer = gw.clock.setTimeout(tick, TICK_MS);
    },
    async stop() {
      stopped = true;
      if (timer !== null) gw.clock.clearTimeout(timer);
    },
    status() {
      const active = engine.activeAlerts();
      const count = (p: AlertSnapshot["priority"]) => active.filter((a) => a.priority === p).length;
      return {
        active: active.length,
        high: count("high"),
        medium: count("medium"),
        low: count("low"),
        restored: restore.restored,
      };
    },
  };
}
