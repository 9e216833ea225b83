/**
 * A distributed alarm system that knows when nobody listens [IEC 60601-1-8 §6.11: a communication failure in a
 * DAS is a technical alarm condition; clinical.md §5.1]. Two technical alarms of the gateway itself:
 *
 * - `technical.no_alert_consumer`: nobody has been listening to the alerts for `graceSec` (after start-up, or
 *   after the last listener left). A listener is a configured consumer connected now with a granted subscription
 *   that receives every transition (`<topicPrefix>/events` or `<topicPrefix>/active`, wildcards included), a
 *   session attached through {@link ListenerPresence.attach} (a ward-station screen), and, only with
 *   `alerts.noConsumer.countDurableSinks`, a webhook or MLLP sink that is up. The alarm goes out through every
 *   other sink (webhook, MLLP, the log, the retained MQTT active set for the next consumer that connects) and
 *   clears as soon as a listener is back.
 * - `technical.escalation_undeliverable`, one per recipient group: a page that reached none of its
 *   destinations (sinks/recipients.ts); its priority is the highest of the alerts paged; it clears when the
 *   recipient is reached again or the alerts paged are acknowledged, silenced or resolved.
 *
 * The conditions belong to the gateway (subject id = gateway id) and never name a patient. Evaluated on ticks.
 */

import type { Clock } from "../clock.js";
import type { Service } from "../core/service.js";
import type { Logger } from "../log.js";
import type { AlertPriority, ConditionUpdate, Rule, RuleInput } from "./rule.js";
import { conditionKey } from "./rule.js";
import type { AlertSink, SinkHealth } from "./sinks/alert-sink.js";
import {
  type PagedSink,
  RecipientRouter,
  UNDELIVERABLE_RULE_ID,
  type UndeliveredRecipient,
} from "./sinks/recipients.js";
import { type AlarmRecipients, type AlertsConfig, effectiveRecipients } from "./sinks/sinks-config.js";

export const NO_CONSUMER_RULE_ID = "technical.no_alert_consumer";

/**
 * Who listens to the alerts now. `attach(name)` is the port for listeners that are not MQTT consumers (a
 * ward-station session): the returned function releases it (idempotent).
 */
export class ListenerPresence {
  readonly #streamTopics: readonly string[];
  readonly #subscribers: (topic: string) => readonly string[];
  readonly #durableSinks: () => readonly { name: string; health(): SinkHealth }[];
  readonly #attached = new Map<number, string>();
  #nextId = 0;

  constructor(deps: {
    /** Topics that carry every transition: `<prefix>/events`, `<prefix>/active`. */
    streamTopics: readonly string[];
    /** Consumers subscribed to the topic now (ConsumerResolver.subscribers). */
    subscribers: (topic: string) => readonly string[];
    /** Durable sinks that count as listeners while up (empty unless configured so). */
    durableSinks?: () => readonly { name: string; health(): SinkHealth }[];
  }) {
    this.#streamTopics = deps.streamTopics;
    this.#subscribers = deps.subscribers;
    this.#durableSinks = deps.durableSinks ?? (() => []);
  }

  /** Counts `name` as a listener until the returned function is called. */
  attach(name: string): () => void {
    if (name.length === 0) throw new TypeError("listener name must not be empty");
    const id = this.#nextId++;
    this.#attached.set(id, name);
    return () => {
      this.#attached.delete(id);
    };
  }

  /** The listeners now, e.g. ["consumer station-1", "station ward7-desk", "sink alerts_mllp"]. */
  listeners(): string[] {
    const out = new Set<string>();
    for (const t of this.#streamTopics) for (const id of this.#subscribers(t)) out.add(`consumer ${id}`);
    for (const name of this.#attached.values()) out.add(`station ${name}`);
    for (const s of this.#durableSinks()) if (s.health().downSinceMs === null) out.add(`sink ${s.name}`);
    return [...out];
  }
}

export class ListenerPresenceRule implements Rule {
  readonly id = "listener_presence";
  readonly category = "technical" as const;
  readonly #presence: ListenerPresence;
  readonly #undelivered: (nowMs: number) => readonly UndeliveredRecipient[];
  readonly #gatewayId: string;
  readonly #graceMs: number;
  readonly #priority: AlertPriority;
  readonly #streamText: string;
  /** Since when nobody has listened (start-up counts as a drop); null while someone listens. */
  #noneSinceMs: number | null = null;
  #isStarted = false;
  #isNoConsumerReported = false;
  /** Condition keys reported active, with their recipient. */
  readonly #undeliverableReported = new Map<string, string>();

  constructor(opts: {
    presence: ListenerPresence;
    /** RecipientRouter.undelivered. */
    undelivered: (nowMs: number) => readonly UndeliveredRecipient[];
    gatewayId: string;
    graceSec: number;
    priority: AlertPriority;
    /** How the alarm text names the stream, e.g. "vitalog/alerts/events". */
    streamText: string;
  }) {
    if (!(opts.graceSec >= 0)) throw new RangeError("graceSec must be >= 0");
    this.#presence = opts.presence;
    this.#undelivered = opts.undelivered;
    this.#gatewayId = opts.gatewayId;
    this.#graceMs = opts.graceSec * 1000;
    this.#priority = opts.priority;
    this.#streamText = opts.streamText;
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    if (input.type !== "tick") return [];
    return [...this.#noConsumer(nowMs), ...this.#undeliverable(nowMs)];
  }

  forgetSubject(): void {}

  #noConsumer(nowMs: number): ConditionUpdate[] {
    const key = conditionKey(this.#gatewayId, NO_CONSUMER_RULE_ID, this.#gatewayId);
    const listeners = this.#presence.listeners();
    if (!this.#isStarted) {
      this.#isStarted = true;
      this.#noneSinceMs = nowMs;
    }
    if (listeners.length > 0) {
      this.#noneSinceMs = null;
      if (!this.#isNoConsumerReported) return [];
      this.#isNoConsumerReported = false;
      return [{ type: "clear", key, reason: `alerts have a listener again: ${listeners.join(", ")}` }];
    }
    this.#noneSinceMs ??= nowMs;
    if (nowMs - this.#noneSinceMs < this.#graceMs) return [];
    this.#isNoConsumerReported = true;
    const reason =
      `no alert consumer connected: nobody receives alerts (no consumer subscribed to ${this.#streamText}, ` +
      "no station session)";
    return [
      {
        type: "active",
        condition: {
          key,
          ruleId: NO_CONSUMER_RULE_ID,
          subjectId: this.#gatewayId,
          deviceId: null,
          priority: this.#priority,
          category: "technical",
          reason,
          observedAtMs: null,
        },
      },
    ];
  }

  #undeliverable(nowMs: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    const now = new Set<string>();
    for (const u of this.#undelivered(nowMs)) {
      const key = conditionKey(this.#gatewayId, UNDELIVERABLE_RULE_ID, u.recipient);
      now.add(key);
      this.#undeliverableReported.set(key, u.recipient);
      const alerts = u.ruleIds.length === 1 ? "1 alert" : `${u.ruleIds.length} alerts`;
      out.push({
        type: "active",
        condition: {
          key,
          ruleId: UNDELIVERABLE_RULE_ID,
          subjectId: this.#gatewayId,
          deviceId: null,
          priority: u.priority,
          category: "technical",
          reason: `page to ${u.recipient} reached nobody (${alerts}: ${u.ruleIds.join(", ")}): ${u.problems.join("; ")}`,
          observedAtMs: null,
        },
      });
    }
    for (const [key, recipient] of [...this.#undeliverableReported]) {
      if (now.has(key)) continue;
      this.#undeliverableReported.delete(key);
      out.push({ type: "clear", key, reason: `page to ${recipient} delivered, or no longer needed` });
    }
    return out;
  }
}

/** What {@link createAlertListening} builds: the parts `createRules` returns. */
export interface AlertListening {
  /** Who listens now; `attach(name)` counts a ward-station session. */
  readonly presence: ListenerPresence;
  /** The paging sink (add it to the alert sinks). */
  readonly router: RecipientRouter;
  /** The technical rule for both alarms (add it to the engine's extra rules). */
  readonly rule: ListenerPresenceRule;
  /** Warns at start-up when nothing is configured that could ever listen. */
  readonly service: Service;
}

/** Builds recipients paging and listener presence from the `alerts` slice and the alarm ladder. */
export function createAlertListening(deps: {
  alerts: AlertsConfig;
  alarms: AlarmRecipients;
  gatewayId: string;
  /** Publishes on the embedded broker (QoS 1, not retained); may throw before the broker is up. */
  publish: (topic: string, body: string) => void;
  /** Consumers subscribed to a topic now (ConsumerResolver.subscribers). */
  subscribers: (topic: string) => readonly string[];
  /** Every alert sink (the durable ones are found by name). */
  sinks: () => readonly AlertSink[];
  clock: Clock;
  log: Logger;
}): AlertListening {
  const { alerts, log } = deps;
  const prefix = alerts.mqtt.topicPrefix;
  const durable = () => deps.sinks().filter((s) => s.isDurable);
  const presence = new ListenerPresence({
    streamTopics: alerts.mqtt.enabled ? [`${prefix}/events`, `${prefix}/active`] : [],
    subscribers: deps.subscribers,
    durableSinks: alerts.noConsumer.countDurableSinks ? durable : () => [],
  });
  const router = new RecipientRouter({
    recipients: effectiveRecipients(alerts, deps.alarms),
    publish: (topic, body) => {
      try {
        deps.publish(topic, body);
      } catch (err) {
        log.error({ err: (err as Error).message, topic }, "page publish failed");
      }
    },
    subscribers: deps.subscribers,
    durableSink: (kind) => deps.sinks().find((s) => s.name === `alerts_${kind}`) as PagedSink | undefined,
    pageConfirmSec: alerts.pageConfirmSec,
    streamRecipient: deps.alarms.primaryRecipient,
    clock: deps.clock,
  });
  const rule = new ListenerPresenceRule({
    presence,
    undelivered: (nowMs) => router.undelivered(nowMs),
    gatewayId: deps.gatewayId,
    graceSec: alerts.noConsumer.graceSec,
    priority: alerts.noConsumer.priority,
    streamText: `${prefix}/events or ${prefix}/active`,
  });
  const service: Service = {
    name: "alert_listeners",
    async start() {
      const canListen =
        (alerts.mqtt.enabled && alerts.consumers.length > 0) ||
        (alerts.noConsumer.countDurableSinks && (alerts.webhook !== undefined || alerts.mllp !== undefined));
      if (!canListen)
        log.warn(
          { rule: NO_CONSUMER_RULE_ID, graceSec: alerts.noConsumer.graceSec },
          "no alert consumer is configured: nobody can receive alerts, and the technical alarm will be raised",
        );
    },
    async stop() {},
    status: () => ({ listeners: presence.listeners().length }),
  };
  return { presence, router, rule, service };
}
