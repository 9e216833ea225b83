/**
 * Alerts on the embedded broker. Topics under `alerts.mqtt.topicPrefix` (default "vitalog/alerts"):
 * - `<prefix>/events`: every transition (AlertMessage JSON), QoS 1, not retained.
 * - `<prefix>/active`: the whole active set `{ v, gateway_id, at_ms, alerts: AlertSnapshot[] }`, QoS 1,
 *   RETAINED, republished after every transition, so a nurse-station screen that (re)connects sees the
 *   current state at once.
 * - `<prefix>/alert/<alert_id>`: the alert's latest AlertMessage, retained; cleared (empty retained payload)
 *   once resolved.
 * - `<prefix>/news2/<subject_id>`: the subject's current NEWS2, complete or not (news2-view.ts `News2Message`),
 *   QoS 1, RETAINED, republished when it changes; cleared when the subject is released or erased. Like every
 *   topic here it is patient data: only the configured consumers may subscribe (consumers.ts), never a device.
 * At start (after the rules service restored the alerts of the previous run) the sink republishes each
 * restored alert's retained topic with its last stored message, then the active set.
 * Publishing hands the packet to the in-process broker synchronously: nothing here waits for the disk.
 */

import type { Clock } from "../../clock.js";
import type { LocalPublisher } from "../../core/ports.js";
import type { Logger } from "../../log.js";
import type { AlertSnapshot } from "../alert-event.js";
import { ALERT_MESSAGE_VERSION, type AlertMessage } from "./alert-message.js";
import type { AlertSink, SinkHealth } from "./alert-sink.js";

/** Payload of the retained `<prefix>/active` topic. */
export interface ActiveSetMessage {
  v: typeof ALERT_MESSAGE_VERSION;
  gateway_id: string;
  at_ms: number;
  alerts: AlertSnapshot[];
}

export class MqttAlertSink implements AlertSink {
  readonly name = "alerts_mqtt";
  readonly isDurable = false;
  readonly #publisher: LocalPublisher;
  readonly #prefix: string;
  readonly #gatewayId: string;
  readonly #active: () => AlertSnapshot[];
  readonly #restored: () => readonly AlertMessage[];
  /** Before `start`: alerts whose transition was published already (newer than their restored message). */
  #deliveredBeforeStart: Set<string> | null = new Set<string>();
  readonly #clock: Clock;
  readonly #log: Logger;
  #stopped = false;
  #published = 0;
  #failed = 0;
  #lastError: string | null = null;

  constructor(deps: {
    /** The embedded broker (it may throw before the broker is up). */
    publisher: LocalPublisher;
    topicPrefix: string;
    gatewayId: string;
    /** The current active set (the alarm manager's). */
    active: () => AlertSnapshot[];
    /** The last message of each alert restored at start-up (republished retained by `start`). */
    restored?: () => readonly AlertMessage[];
    clock: Clock;
    log: Logger;
  }) {
    this.#publisher = deps.publisher;
    this.#prefix = deps.topicPrefix;
    this.#gatewayId = deps.gatewayId;
    this.#active = deps.active;
    this.#restored = deps.restored ?? (() => []);
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  /** Topic of the retained active set. */
  get activeTopic(): string {
    return `${this.#prefix}/active`;
  }

  get eventsTopic(): string {
    return `${this.#prefix}/events`;
  }

  /** Topic of a subject's retained NEWS2. */
  news2Topic(subjectId: string): string {
    return `${this.#prefix}/news2/${subjectId}`;
  }

  /**
   * Publishes a subject's current NEWS2 (JSON) retained, or clears its retained topic (`null`). Works as soon
   * as the broker is up, like `deliver`.
   */
  publishNews2(subjectId: string, body: string | null): void {
    if (this.#stopped) return;
    this.#publish(this.news2Topic(subjectId), body ?? "", true);
  }

  /**
   * Clears what is retained for an erased subject: each of its alerts' topics (`alertIds`, whatever their state:
   * clearing one already cleared changes nothing), its NEWS2 topic, and the active set, republished without it.
   */
  clearSubject(subjectId: string, alertIds: readonly string[]): void {
    if (this.#stopped) return;
    for (const id of alertIds) this.#publish(`${this.#prefix}/alert/${id}`, "", true);
    this.#publish(this.news2Topic(subjectId), "", true);
    this.#publishActive();
  }

  /**
   * Publishes the retained topic of every restored alert still active (unless a newer transition of it was
   * published already), then the current active set (retained): empty, or the alerts restored at start-up.
   */
  async start(): Promise<void> {
    const active = new Set(this.#active().map((a) => a.alert_id));
    for (const m of this.#restored()) {
      if (!active.has(m.alert_id) || this.#deliveredBeforeStart?.has(m.alert_id)) continue;
      this.#publish(`${this.#prefix}/alert/${m.alert_id}`, JSON.stringify(m), true);
    }
    this.#deliveredBeforeStart = null;
    this.#publishActive();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
  }

  /** Works as soon as the broker is up (before `start`), so nothing raised during start-up is lost. */
  deliver(message: AlertMessage): void {
    if (this.#stopped) {
      this.#failed++;
      this.#lastError = "stopped";
      return;
    }
    const body = JSON.stringify(message);
    this.#deliveredBeforeStart?.add(message.alert_id);
    this.#publish(this.eventsTopic, body, false);
    const isResolved = message.state === "resolved";
    this.#publish(`${this.#prefix}/alert/${message.alert_id}`, isResolved ? "" : body, true);
    this.#publishActive();
  }

  health(): SinkHealth {
    return {
      isUp: !this.#stopped,
      downSinceMs: null,
      pending: 0,
      delivered: this.#published,
      deadLettered: this.#failed,
      lastError: this.#lastError,
    };
  }

  status(): Record<string, unknown> {
    return { published: this.#published, failed: this.#failed, last_error: this.#lastError };
  }

  #publishActive(): void {
    const set: ActiveSetMessage = {
      v: ALERT_MESSAGE_VERSION,
      gateway_id: this.#gatewayId,
      at_ms: this.#clock.now(),
      alerts: this.#active(),
    };
    this.#publish(this.activeTopic, JSON.stringify(set), true);
  }

  #publish(topic: string, payload: string, retain: boolean): void {
    try {
      this.#publisher.publish(topic, payload, { qos: 1, retain }, (err) => {
        if (!err) return;
        this.#failed++;
        this.#lastError = err.message;
        this.#log.error({ err: err.message, topic }, "alert publish failed");
      });
      this.#published++;
    } catch (err) {
      this.#failed++;
      this.#lastError = (err as Error).message;
      this.#log.error({ err: this.#lastError, topic }, "alert publish failed");
    }
  }
}
