/**
 * Alerting as a part of the gateway (`createRules(deps)`, wired by the composition root): the rule engine
 * listens to ingest before storage; every alert
 * transition goes, in this order and synchronously, to the sinks (MQTT first: published to the in-process
 * broker at once), then to the group commit as an audit event (durable in `alert_events`, the outbox rows
 * of the durable sinks, and the tamper-evident log when it is on). A failing store, log or ledger never
 * delays or stops delivery [DESIGN.md "Alerts do not wait"].
 */

import type { CommitWriterSpec } from "../batcher/commit/commit-writer.js";
import type { Tlog } from "../batcher/tlog/open-tlog.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { configProblemsError } from "../config-sections.js";
import type {
  ControlOps,
  DeviceDirectory,
  EventRecorder,
  HealthCheck,
  LocalPublisher,
  PrincipalResolver,
  WriteCommands,
} from "../core/ports.js";
import type { Service } from "../core/service.js";
import type { Db } from "../db.js";
import type { IngestListener, InputRejection } from "../drivers/ingest.js";
import { UlidFactory } from "../ids.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { UserDirectory } from "../users/user-directory.js";
import { createClockHealthRule } from "./clock-health-rule.js";
import {
  type ActorContext,
  CommandProcessor,
  type CommandReply,
  registerAlertActionControl,
} from "./commands.js";
import { RuleEngine, type RulesConfig } from "./engine.js";
import { GatewayConditionRule } from "./gateway-condition-rule.js";
import { createAlertListening, type ListenerPresence } from "./listener-presence-rule.js";
import { news2Message, registerNews2View } from "./news2-view.js";
import { ALERT_PRIORITIES, type AlertCategory } from "./rule.js";
import { createRulesInForce, type RulesInForceParts } from "./rules-in-force.js";
import { discrepancyProblem, loggedEvents, type RestoreState, rulesService } from "./rules-service.js";
import { SinkHealthRule } from "./sink-health-rule.js";
import { alertCommitWriter } from "./sinks/alert-commit-writer.js";
import type { RestoreDiscrepancy } from "./sinks/alert-log-restore.js";
import {
  ALERT_MESSAGE_VERSION,
  type AlertMessage,
  type AlertPage,
  toAuditEvent,
} from "./sinks/alert-message.js";
import type { AlertSink } from "./sinks/alert-sink.js";
import { AlertStore } from "./sinks/alert-store.js";
import { ConsumerResolver } from "./sinks/consumers.js";
import { createDurableSinks } from "./sinks/durable-sinks.js";
import { MqttAlertSink } from "./sinks/mqtt-sink.js";
import { alertsConfigProblems } from "./sinks/sinks-config.js";
import { createSubjectLifecycle } from "./subject-lifecycle.js";
import { registerSubjectLimits, rulesWithStoredLimits } from "./subject-limits-control.js";

/** The label values of `vitalog_alerts_active` (every combination is exposed, zeros included). */
const ALERT_CATEGORIES: readonly AlertCategory[] = ["physiological", "technical"];

/** The running alerting, for the composition root's handle (the demo, tests, the CLI-facing services). */
export interface RulesHandle {
  engine: RuleEngine;
  store: AlertStore;
  sinks: readonly AlertSink[];
  commands: CommandProcessor;
  /** Who listens to the alerts; `listeners.attach(name)` counts a ward-station session (listener-presence-rule.ts). */
  listeners: ListenerPresence;
}

/** What `createRules` needs: its config slices and the ports it uses. */
export interface RulesDeps {
  readonly config: Readonly<Pick<Config, "rules" | "alerts">> & { readonly gatewayId: string };
  /** The main connection: reads, and the writes of the stores not yet moved to the commit thread. */
  readonly db: Db;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Makes the ids of new alerts (tests inject predictable ones, as they inject the clock); default random UUIDs. */
  readonly newAlertId?: (() => string) | undefined;
  readonly events: EventRecorder;
  /** Write commands for the commit thread, the database's one writer (the outbox marks). */
  readonly writes: WriteCommands;
  readonly publisher: LocalPublisher;
  readonly devices: DeviceDirectory;
  readonly control: ControlOps;
  /** Who may act, verified against the log (users/user-directory.ts). */
  readonly users: UserDirectory;
  /** Why readings are not acknowledged for lack of disk (undefined when there is room). */
  readonly storageProblem: () => string | undefined;
  /** Installs ingest's check of a frame's subject. */
  readonly setSubjectGate: (gate: (subjectId: string) => InputRejection | undefined) => void;
  /** The log (undefined when it is off): what is restored at start-up is checked against it. */
  readonly tlog?: Tlog | undefined;
}

/** Alerting's parts for the composition root, in start order. */
export interface RulesParts {
  readonly rules: RulesHandle;
  readonly services: readonly Service[];
  readonly commitWriters: readonly CommitWriterSpec[];
  readonly ingestListeners: readonly IngestListener[];
  /** The alert consumers, as principals of the embedded broker. */
  readonly principalResolver: PrincipalResolver;
  readonly healthChecks: Readonly<Record<string, HealthCheck>>;
}

/** Builds the rule engine, the alert sinks and the consumer principals (sinks/alert-log-restore.ts). */
export function createRules(gw: RulesDeps): RulesParts {
  const { config, tlog } = gw;
  const alerts = config.alerts;
  const problems = alertsConfigProblems(alerts, config.rules.alarms);
  // checked with the config (resolveAlertsConfig): a caller that built its config by hand
  if (problems.length > 0) throw configProblemsError("invalid alerts config", problems);
  const log = gw.log.child({ module: "rules" });
  const gatewayId = config.gatewayId;
  const services: Service[] = [];
  const commitWriters: CommitWriterSpec[] = [];
  const healthChecks: Record<string, HealthCheck> = {};
  const ids = new UlidFactory();
  const actor: ActorContext = { via: null };
  const store = new AlertStore(gw.db);
  const sinks: AlertSink[] = [];
  const persistFailures = gw.metrics.counter(
    "vitalog_alert_persist_failures_total",
    "Alert transitions not committed (still delivered)",
  );
  const transitions = gw.metrics.counter("vitalog_alert_transitions_total", "Alert transitions, per kind");
  /** Filled by the rules service at start (before the sinks start): what was taken back from the database. */
  const restore: RestoreState = { restored: 0, messages: [] };

  // the config file's limits with the clinicians' stored per-subject changes over them (subject-limits.ts)
  const rules = rulesWithStoredLimits(gw.db, config.rules as RulesConfig);
  // pages to recipient groups, and the alarms for a page or a stream nobody receives (listener-presence-rule.ts)
  const listening = createAlertListening({
    alerts,
    alarms: config.rules.alarms,
    gatewayId,
    publish: (topic, body) => gw.publisher.publish(topic, body, { qos: 1, retain: false }),
    subscribers: (topic) => consumers.subscribers(topic),
    sinks: () => sinks,
    clock: gw.clock,
    log,
  });
  const engine = new RuleEngine(rules, {
    clock: gw.clock,
    ...(gw.newAlertId ? { newAlertId: gw.newAlertId } : {}),
    extraRules: [
      createClockHealthRule(gw, { config: rules.clock, gatewayId, log }),
      listening.rule,
      new SinkHealthRule({
        sinks: () => sinks.filter((s) => s.isDurable),
        gatewayId,
        downAlarmSec: alerts.sinkDownAlarmSec,
      }),
      new GatewayConditionRule({
        gatewayId,
        conditions: [
          {
            name: "storage_low",
            priority: "high",
            problem: () => gw.storageProblem(),
            clearedText: "free space above the storage watermark again: readings are acknowledged",
          },
        ],
      }),
    ],
    onRuleError: (err, ruleId) => log.error({ err, ruleId }, "rule failed"),
    onListenerError: (err) => log.error({ err }, "alert listener failed"),
  });

  let persistDown = false;
  engine.onAlertEvent((e) => {
    const message: AlertMessage = {
      ...e,
      v: ALERT_MESSAGE_VERSION,
      event_id: ids.next(e.at_ms),
      gateway_id: gatewayId,
      via: e.by === null ? null : actor.via,
      ...pageField(listening.router.pageOf(e)),
    };
    for (const sink of sinks) {
      try {
        sink.deliver(message);
      } catch (err) {
        log.error({ err, sink: sink.name }, "alert sink broke its contract (threw)");
      }
    }
    transitions({ transition: e.transition, priority: e.priority });
    log.info(
      { alertId: e.alert_id, ruleId: e.rule_id, transition: e.transition, priority: e.priority, by: e.by },
      "alert",
    );
    gw.events.record(toAuditEvent(message), (err) => {
      if (!err) {
        if (persistDown) log.info("alert persistence restored");
        persistDown = false;
        return;
      }
      persistFailures();
      if (!persistDown) log.error({ err: err.message }, "alert persistence failing; delivery continues");
      persistDown = true;
    });
  });

  if (alerts.mqtt.enabled) {
    sinks.push(
      new MqttAlertSink({
        publisher: gw.publisher,
        topicPrefix: alerts.mqtt.topicPrefix,
        gatewayId,
        active: () => engine.activeAlerts(),
        restored: () => restore.messages,
        clock: gw.clock,
        log: log.child({ sink: "mqtt" }),
      }),
    );
  }
  sinks.push(
    ...createDurableSinks(
      { clock: gw.clock, metrics: gw.metrics, gatewayId, writes: gw.writes },
      alerts,
      store,
      log,
    ),
  );
  sinks.push(listening.router);

  const { users } = gw;
  const commands = new CommandProcessor({
    engine,
    now: () => gw.clock.now(),
    record: (event) => gw.events.record(event),
    actor,
    users,
    refused: gw.metrics.counter(
      "vitalog_commands_refused_total",
      "Alarm commands (ack, silence, observe) refused, by command and reason",
    ),
    news2: (subjectId) =>
      news2Message(engine.news2(subjectId), gatewayId, (config.rules as RulesConfig).news2),
  });
  const cmdPrefix = alerts.mqtt.commandPrefix;
  const consumers = new ConsumerResolver(
    alerts,
    (consumerId, verb, payload) => {
      const reply: CommandReply = commands.handle(consumerId, verb, payload);
      log.info({ consumer: consumerId, command: verb, ok: reply.ok, error: reply.error }, "command");
      gw.publisher.publish(`${cmdPrefix}/${consumerId}/result`, JSON.stringify(reply), {
        qos: 1,
        retain: false,
      });
    },
    log,
  );
  const ingestListener: IngestListener = {
    // a frame as a whole: NEWS2 scores each pack once (one pack, one transition)
    onReadings: (readings) => engine.onReadings(readings),
    onDeviceStatus: (source, status) => engine.onDeviceStatus(source.deviceId, source.subjectId, status),
    onRejected: (source, reason, _atMs, count) => {
      if (source.deviceId !== null && source.subjectId !== null)
        engine.onRejected(source.deviceId, source.subjectId, reason, count);
    },
  };
  commitWriters.push(
    alertCommitWriter(store, (message) => {
      // the readings of that commit were kept: an alert-table problem must not lose them
      persistFailures();
      log.error({ err: message }, "alert store write failed");
    }),
  );

  const discrepancies: RestoreDiscrepancy[] = [];
  if (tlog) healthChecks.restored_state = () => discrepancyProblem(discrepancies);
  services.push(rulesService(gw, engine, store, restore, tlog && loggedEvents(tlog), discrepancies));
  let inForce: RulesInForceParts | undefined;
  if (tlog) {
    // the effective rules, after merging, as log evidence (rules-in-force.ts)
    inForce = createRulesInForce({
      db: gw.db,
      keys: tlog.records.keys,
      rules,
      now: () => gw.clock.now(),
      record: (event) => gw.events.record(event),
      log,
    });
    commitWriters.push(inForce.commitWriter);
    services.push(inForce.service);
  }
  registerSubjectLimits(gw, { configRules: config.rules as RulesConfig, engine, tlog, inForce, log, users });
  registerAlertActionControl(gw.control, commands);
  healthChecks.alert_sinks = observeRules(gw, engine, sinks);
  registerNews2View(
    {
      gatewayId,
      news2: (config.rules as RulesConfig).news2,
      control: gw.control,
      devices: gw.devices,
    },
    engine,
    sinks,
  );
  // device removal and re-binding end that device's alarms; erasure ends the subject's (subject-lifecycle.ts)
  services.push(...createSubjectLifecycle(gw, engine, sinks, log, tlog, actor).services);
  services.push(...sinks, listening.service);
  return {
    rules: { engine, store, sinks, commands, listeners: listening.presence },
    services,
    commitWriters,
    ingestListeners: [ingestListener],
    principalResolver: consumers,
    healthChecks,
  };
}

/** The `page` field of a message that pages (none otherwise: the message stays as it was). */
function pageField(page: AlertPage | undefined): { page?: AlertPage } {
  return page === undefined ? {} : { page };
}

/**
 * Alerting's health check and scrape-time gauge. A sink counts as down for /healthz after failing for
 * `alerts.sinkDownAlarmSec`, the threshold of the `technical.alert_sink_down` alarm (sink-health-rule.ts),
 * so health and the technical alarm agree and one refused delivery does not flap the gateway's health.
 */
function observeRules(
  gw: Pick<RulesDeps, "config" | "clock" | "metrics">,
  engine: RuleEngine,
  sinks: readonly AlertSink[],
): HealthCheck {
  const downAlarmMs = gw.config.alerts.sinkDownAlarmSec * 1000;
  const check: HealthCheck = () => {
    const now = gw.clock.now();
    const down: string[] = [];
    for (const sink of sinks) {
      const h = sink.health();
      if (h.downSinceMs === null || now - h.downSinceMs < downAlarmMs) continue;
      const forSec = Math.round((now - h.downSinceMs) / 1000);
      down.push(
        `${sink.name} down for ${forSec} s (${h.pending} pending): ${h.lastError ?? "unknown error"}`,
      );
    }
    return down.length === 0 ? undefined : `alert delivery failing: ${down.join("; ")}`;
  };
  gw.metrics.gaugeFrom("vitalog_alerts_active", "Alerts not resolved, by priority and category", () => {
    const counts = new Map<string, number>();
    for (const a of engine.activeAlerts()) {
      const key = `${a.priority}/${a.category}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return ALERT_PRIORITIES.flatMap((priority) =>
      ALERT_CATEGORIES.map((category) => ({
        labels: { priority, category },
        value: counts.get(`${priority}/${category}`) ?? 0,
      })),
    );
  });
  return check;
}
