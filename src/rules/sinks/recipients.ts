/**
 * Pages recipient groups (docs/alerting.md "Recipients"). A transition that notifies its `recipient` (every
 * escalation; a raise or re-alarm when that recipient has destinations) is a page: the message carries where it
 * goes (`AlertMessage.page`, so the webhook's signed body and the log name the recipient and address), this
 * sink publishes it on the recipient's MQTT page topics, and the webhook and MLLP sinks deliver it like every
 * message.
 *
 * Whether a page reached anyone is checked, because a distributed alarm system must treat a communication
 * failure as a technical alarm condition [IEC 60601-1-8 §6.11, clinical.md §5.1]:
 * - an MQTT topic is reached when a configured consumer is subscribed to it at that moment (the broker would
 *   otherwise drop the message: page topics are not retained), or later, when one subscribes (the sweep then
 *   publishes the page again, with the same `event_id`);
 * - the webhook or the Alert Manager is reached when it confirmed the message (2xx, ACK AA/CA); it failed when
 *   the message was dead-lettered, the sink is down, or it has not confirmed within `pageConfirmSec`.
 * A page that reached none of its destinations, and every one of which failed, is undelivered
 * (`technical.escalation_undeliverable`, listener-presence-rule.ts) until one is reached or the alert it was
 * about is acknowledged, silenced or resolved (someone has it in hand, or it is over). Pages are kept in memory
 * only: after a restart the restored alerts' next page is checked again.
 */
import type { Clock } from "../../clock.js";
import type { AlertPriority } from "../rule.js";
import { maxPriority } from "../rule.js";
import type { AlertMessage, AlertPage } from "./alert-message.js";
import type { AlertSink, SinkHealth } from "./alert-sink.js";
import type { OutboxOutcome } from "./alert-store.js";
import type { RecipientDestination } from "./sinks-config.js";

/** Rule id of the technical alarm for a page that reached nobody (wire string). */
export const UNDELIVERABLE_RULE_ID = "technical.escalation_undeliverable";

/** A durable sink as the page check sees it (the webhook or MLLP `DeliveryQueue`). */
export interface PagedSink {
  readonly name: string;
  health(): SinkHealth;
  outcomeOf?(eventId: string): OutboxOutcome | undefined;
}

/** The pages to one recipient that reached nobody. */
export interface UndeliveredRecipient {
  readonly recipient: string;
  /** The highest priority of the alerts paged. */
  readonly priority: AlertPriority;
  /** Rule ids of the alerts paged (no subject ids: this condition belongs to the gateway). */
  readonly ruleIds: readonly string[];
  /** Why each destination failed, e.g. "no consumer subscribed to vitalog/alerts/page/charge_nurse". */
  readonly problems: readonly string[];
}

interface Page {
  readonly message: AlertMessage;
  readonly atMs: number;
  /** MQTT page topics and whether each reached a subscriber. */
  readonly topics: Map<string, boolean>;
  readonly durable: readonly ("webhook" | "mllp")[];
}

/** Transitions that notify their recipient. */
const NOTIFYING = new Set(["raise", "re_alarm", "escalate"]);
/** Transitions after which a page no longer matters: a person has the alert in hand, or it is over. */
const SETTLING = new Set(["acknowledge", "silence", "resolve"]);
/** How often outstanding pages are looked at again (published to a topic that has a subscriber now, forgotten once reached). */
const SWEEP_MS = 500;

export class RecipientRouter implements AlertSink {
  readonly name = "alerts_pages";
  readonly isDurable = false;
  readonly #recipients: ReadonlyMap<string, readonly RecipientDestination[]>;
  readonly #publish: (topic: string, body: string) => void;
  readonly #subscribers: (topic: string) => readonly string[];
  readonly #durableSink: (sink: "webhook" | "mllp") => PagedSink | undefined;
  readonly #confirmMs: number;
  readonly #streamRecipient: string;
  readonly #clock: Clock;
  /** Outstanding pages by alert id and recipient. */
  readonly #pages = new Map<string, Page>();
  #timer: unknown = null;
  #stopped = false;
  #paged = 0;

  constructor(deps: {
    recipients: ReadonlyMap<string, readonly RecipientDestination[]>;
    /** Publishes one page on the embedded broker (QoS 1, not retained). MUST NOT throw. */
    publish: (topic: string, body: string) => void;
    /** Consumers subscribed to the topic now (ConsumerResolver.subscribers). */
    subscribers: (topic: string) => readonly string[];
    /** The configured durable sink of that kind, if any. */
    durableSink: (sink: "webhook" | "mllp") => PagedSink | undefined;
    pageConfirmSec: number;
    /** The primary recipient: without destinations, the alert stream itself reaches it (never a page). */
    streamRecipient: string;
    clock: Clock;
  }) {
    if (!(deps.pageConfirmSec > 0)) throw new RangeError("pageConfirmSec must be > 0");
    this.#recipients = deps.recipients;
    this.#publish = deps.publish;
    this.#subscribers = deps.subscribers;
    this.#durableSink = deps.durableSink;
    this.#confirmMs = deps.pageConfirmSec * 1000;
    this.#streamRecipient = deps.streamRecipient;
    this.#clock = deps.clock;
  }

  /**
   * Where a transition pages, or undefined when it pages nobody. A raise, re-alarm or escalation pages its
   * recipient when that recipient has destinations. Without any, the primary recipient is reached through the
   * alert stream itself (no page), and any other recipient (reached by a ladder step) gets a page with no
   * destination, which is undelivered.
   */
  pageOf(e: { transition: string; recipient: string }): AlertPage | undefined {
    if (!NOTIFYING.has(e.transition)) return undefined;
    const destinations = this.#recipients.get(e.recipient);
    if (destinations === undefined && e.recipient === this.#streamRecipient) return undefined;
    return { recipient: e.recipient, destinations: destinations ?? [] };
  }

  deliver(message: AlertMessage): void {
    if (this.#stopped) return;
    if (SETTLING.has(message.transition)) {
      for (const [key, p] of this.#pages)
        if (p.message.alert_id === message.alert_id) this.#pages.delete(key);
    }
    const page = message.page;
    if (page === undefined) return;
    this.#paged++;
    const body = JSON.stringify(message);
    const topics = new Map<string, boolean>();
    const durable: ("webhook" | "mllp")[] = [];
    for (const d of page.destinations) {
      if (d.sink === "mqtt" && d.address !== null) {
        topics.set(d.address, this.#subscribers(d.address).length > 0);
        this.#publish(d.address, body);
      } else if (d.sink === "webhook" || d.sink === "mllp") durable.push(d.sink);
    }
    // a page about a page that reached nobody is sent, but not checked: its own failure would keep it alive
    if (message.rule_id === UNDELIVERABLE_RULE_ID) return;
    this.#pages.set(`${message.alert_id}\u0000${page.recipient}`, {
      message,
      atMs: message.at_ms,
      topics,
      durable,
    });
  }

  /**
   * The outstanding pages that reached nobody at `nowMs`, per recipient. Reads only: a topic that has a
   * subscriber now counts as reached (the sweep publishes the page to it within SWEEP_MS).
   */
  undelivered(nowMs: number): UndeliveredRecipient[] {
    const byRecipient = new Map<
      string,
      { priority: AlertPriority; ruleIds: Set<string>; problems: Set<string> }
    >();
    for (const p of this.#pages.values()) {
      const problems: string[] = [];
      let isReached = false;
      let isPending = false;
      for (const [topic, wasReached] of p.topics) {
        if (wasReached || this.#subscribers(topic).length > 0) isReached = true;
        else problems.push(`no consumer subscribed to ${topic}`);
      }
      for (const kind of p.durable) {
        const state = this.#durableState(kind, p, nowMs);
        if (state === "delivered") isReached = true;
        else if (state === "pending") isPending = true;
        else problems.push(state);
      }
      if (p.topics.size === 0 && p.durable.length === 0) problems.push("no destination configured");
      if (isReached || isPending) continue;
      const recipient = p.message.page!.recipient;
      const entry = byRecipient.get(recipient) ?? {
        priority: p.message.priority,
        ruleIds: new Set<string>(),
        problems: new Set<string>(),
      };
      entry.priority = maxPriority(entry.priority, p.message.priority);
      entry.ruleIds.add(p.message.rule_id);
      for (const x of problems) entry.problems.add(x);
      byRecipient.set(recipient, entry);
    }
    return [...byRecipient].map(([recipient, e]) => ({
      recipient,
      priority: e.priority,
      ruleIds: [...e.ruleIds],
      problems: [...e.problems],
    }));
  }

  /**
   * Publishes each outstanding page again on its topics that have a subscriber now (same `event_id`: receivers
   * de-duplicate), and forgets the pages that reached someone. Runs every SWEEP_MS once started.
   */
  sweep(): void {
    for (const [key, p] of this.#pages) {
      let isReached = false;
      for (const [topic, wasReached] of p.topics) {
        if (!wasReached && this.#subscribers(topic).length > 0) {
          this.#publish(topic, JSON.stringify(p.message));
          p.topics.set(topic, true);
        }
        if (p.topics.get(topic)) isReached = true;
      }
      for (const kind of p.durable) {
        const outcome = this.#durableSink(kind)?.outcomeOf?.(p.message.event_id);
        if (outcome !== undefined && "delivered" in outcome) isReached = true;
      }
      if (isReached) this.#pages.delete(key);
    }
  }

  async start(): Promise<void> {
    const loop = () => {
      this.#timer = null;
      if (this.#stopped) return;
      this.sweep();
      this.#timer = this.#clock.setTimeout(loop, SWEEP_MS);
    };
    this.#timer = this.#clock.setTimeout(loop, SWEEP_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#pages.clear();
  }

  health(): SinkHealth {
    return {
      isUp: !this.#stopped,
      downSinceMs: null,
      pending: this.#pages.size,
      delivered: this.#paged,
      deadLettered: 0,
      lastError: null,
    };
  }

  status(): Record<string, unknown> {
    return { paged: this.#paged, outstanding: this.#pages.size };
  }

  /** "delivered", "pending", or why the page failed on that sink. */
  #durableState(kind: "webhook" | "mllp", p: Page, nowMs: number): string {
    const sink = this.#durableSink(kind);
    if (sink === undefined) return `${kind} not configured`;
    const outcome = sink.outcomeOf?.(p.message.event_id);
    if (outcome !== undefined && "delivered" in outcome) return "delivered";
    if (outcome !== undefined) return `${kind} refused the page: ${outcome.error}`;
    const h = sink.health();
    if (h.downSinceMs !== null) return `${kind} down: ${h.lastError ?? "unknown error"}`;
    if (nowMs - p.atMs >= this.#confirmMs)
      return `${kind} has not confirmed the page within ${this.#confirmMs / 1000} s`;
    return "pending";
  }
}
