/**
 * The durable-sink engine shared by the webhook and the MLLP sinks: an in-memory FIFO fed synchronously by
 * `deliver`, one message in flight at a time (order preserved), retries with capped exponential backoff and
 * jitter, dead-lettering after a permanent refusal or `maxAgeSec`, and outbox bookkeeping (rows are written
 * by the group commit through `AlertStore`; each outcome is submitted as a write command to the same commit
 * path, off the alert path: alert-commit-writer.ts).
 */
import type { Clock } from "../../clock.js";
import type { WriteCommands } from "../../core/ports.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics.js";
import { ALERTS_WRITER, type OutboxMarks } from "./alert-commit-writer.js";
import type { AlertMessage } from "./alert-message.js";
import type { AlertSink, SinkHealth } from "./alert-sink.js";
import type { AlertStore, OutboxOutcome, OutboxParticipant } from "./alert-store.js";
import { backoffDelayMs, DeliveryError, type RetryPolicy } from "./backoff.js";

/** The wire half of a durable sink. */
export interface DeliveryTransport {
  /** Sends one message; resolves once the receiver accepted it; rejects (DeliveryError) otherwise. */
  send(message: AlertMessage, signal: AbortSignal): Promise<void>;
  /** Closes connections; MUST resolve promptly. */
  close(): Promise<void>;
  status?(): Record<string, unknown>;
}

interface Entry {
  message: AlertMessage;
  attempts: number;
  notBeforeMs: number;
}

const MAX_REMEMBERED_OUTCOMES = 10_000;

export class DeliveryQueue implements AlertSink, OutboxParticipant {
  readonly name: string;
  readonly isDurable: boolean;
  readonly #transport: DeliveryTransport;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #retry: RetryPolicy;
  readonly #maxQueued: number;
  readonly #store: AlertStore | undefined;
  readonly #random: () => number;
  readonly #queue: Entry[] = [];
  readonly #queued = new Set<string>();
  readonly #outcomes = new Map<string, OutboxOutcome>();
  readonly #writes: WriteCommands | undefined;
  #retryTimer: unknown = null;
  #inFlight: { abort: AbortController; done: Promise<void> } | null = null;
  /** Subjects purged (erased): a message of theirs in flight when purged is never retried. */
  readonly #purgedSubjects = new Set<string>();
  #running = false;
  #delivered = 0;
  #dead = 0;
  #downSinceMs: number | null = null;
  #lastError: string | null = null;
  readonly #count;

  constructor(deps: {
    name: string;
    transport: DeliveryTransport;
    clock: Clock;
    log: Logger;
    metrics: Metrics;
    retry: RetryPolicy;
    maxQueued: number;
    /**
     * The outbox (its backlog is read from `store`; outcomes are written through `writes`, to the alert
     * writer); without it the queue is memory-only.
     */
    outbox?: { store: AlertStore; writes: WriteCommands } | undefined;
    random?: () => number;
  }) {
    this.name = deps.name;
    this.#transport = deps.transport;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#retry = deps.retry;
    this.#maxQueued = deps.maxQueued;
    this.#store = deps.outbox?.store;
    this.#writes = deps.outbox?.writes;
    this.isDurable = deps.outbox !== undefined;
    this.#random = deps.random ?? Math.random;
    this.#count = deps.metrics.counter(
      "vitalog_alert_deliveries_total",
      "Alert deliveries, per sink and outcome",
    );
    deps.outbox?.store.addParticipant(this);
  }

  deliver(message: AlertMessage): void {
    if (this.#queued.has(message.event_id) || this.#outcomes.has(message.event_id)) return;
    this.#queue.push({ message, attempts: 0, notBeforeMs: 0 });
    this.#queued.add(message.event_id);
    while (this.#queue.length > this.#maxQueued) {
      // never the head while it is in flight: its outcome is still coming
      const victim = this.#queue.splice(this.#inFlight ? 1 : 0, 1)[0]!;
      this.#finish(victim, {
        dead: true,
        atMs: this.#clock.now(),
        attempts: victim.attempts,
        error: "queue_full",
      });
    }
    this.#pump();
  }

  /** Loads the outbox backlog (before anything delivered since start-up) and starts sending. */
  async start(): Promise<void> {
    if (this.#store) {
      const backlog = this.#store
        .pending(this.name)
        .filter((r) => !this.#queued.has(r.eventId) && !this.#outcomes.has(r.eventId));
      const head = this.#inFlight ? this.#queue.splice(0, 1) : [];
      this.#queue.unshift(
        ...head,
        ...backlog.map((r) => ({ message: r.message, attempts: r.attempts, notBeforeMs: 0 })),
      );
      for (const r of backlog) this.#queued.add(r.eventId);
      if (backlog.length > 0)
        this.#log.info({ sink: this.name, backlog: backlog.length }, "outbox backlog loaded");
    }
    this.#running = true;
    this.#pump();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#retryTimer !== null) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const inFlight = this.#inFlight;
    if (inFlight) {
      inFlight.abort.abort();
      await inFlight.done;
    }
    await this.#transport.close().catch(() => {});
  }

  /**
   * Drops every queued message of the subject (its record is being erased: its outbox rows are deleted by the
   * erasure, erasure.ts) and returns how many. A message already in flight cannot be recalled: it is not sent
   * again if this attempt fails. Nothing is marked: the rows are gone.
   */
  purgeSubject(subjectId: string): number {
    this.#purgedSubjects.add(subjectId);
    let purged = 0;
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const entry = this.#queue[i]!;
      if (entry.message.subject_id !== subjectId) continue;
      if (i === 0 && this.#inFlight) continue;
      this.#queue.splice(i, 1);
      this.#queued.delete(entry.message.event_id);
      purged++;
    }
    return purged;
  }

  outcomeOf(eventId: string): OutboxOutcome | undefined {
    return this.#outcomes.get(eventId);
  }

  health(): SinkHealth {
    return {
      isUp: this.#downSinceMs === null,
      downSinceMs: this.#downSinceMs,
      pending: this.#queue.length,
      delivered: this.#delivered,
      deadLettered: this.#dead,
      lastError: this.#lastError,
    };
  }

  status(): Record<string, unknown> {
    const h = this.health();
    return {
      up: h.isUp,
      down_since: h.downSinceMs === null ? null : new Date(h.downSinceMs).toISOString(),
      pending: h.pending,
      delivered: h.delivered,
      dead_lettered: h.deadLettered,
      last_error: h.lastError,
      durable: this.isDurable,
      ...this.#transport.status?.(),
    };
  }

  #pump(): void {
    if (!this.#running || this.#inFlight || this.#retryTimer !== null) return;
    const entry = this.#queue[0];
    if (!entry) return;
    const now = this.#clock.now();
    if (now - entry.message.at_ms > this.#retry.maxAgeSec * 1000 && entry.attempts > 0) {
      this.#queue.shift();
      this.#finish(entry, {
        dead: true,
        atMs: now,
        attempts: entry.attempts,
        error: `expired: ${this.#lastError}`,
      });
      this.#pump();
      return;
    }
    if (entry.notBeforeMs > now) {
      this.#retryTimer = this.#clock.setTimeout(() => {
        this.#retryTimer = null;
        this.#pump();
      }, entry.notBeforeMs - now);
      return;
    }
    const abort = new AbortController();
    entry.attempts += 1;
    const done = this.#transport.send(entry.message, abort.signal).then(
      () => this.#onSent(entry),
      (err: unknown) => this.#onFailed(entry, err, abort.signal.aborted),
    );
    this.#inFlight = { abort, done };
  }

  #onSent(entry: Entry): void {
    this.#inFlight = null;
    if (this.#queue[0] === entry) this.#queue.shift();
    if (this.#downSinceMs !== null) this.#log.info({ sink: this.name }, "alert sink recovered");
    this.#downSinceMs = null;
    this.#finish(entry, { delivered: true, atMs: this.#clock.now(), attempts: entry.attempts });
    this.#pump();
  }

  #onFailed(entry: Entry, err: unknown, aborted: boolean): void {
    this.#inFlight = null;
    if (aborted && !this.#running) {
      entry.attempts -= 1; // stopped mid-send: not the receiver's fault
      return;
    }
    const now = this.#clock.now();
    const message = err instanceof Error ? err.message : String(err);
    if (this.#purgedSubjects.has(entry.message.subject_id)) {
      if (this.#queue[0] === entry) this.#queue.shift();
      this.#queued.delete(entry.message.event_id);
      this.#pump();
      return;
    }
    this.#lastError = message;
    this.#count({ sink: this.name, outcome: "failed" });
    if (err instanceof DeliveryError && err.permanent) {
      if (this.#queue[0] === entry) this.#queue.shift();
      this.#finish(entry, { dead: true, atMs: now, attempts: entry.attempts, error: message });
    } else {
      if (this.#downSinceMs === null) {
        this.#downSinceMs = now;
        this.#log.warn({ sink: this.name, err: message }, "alert sink down");
      }
      entry.notBeforeMs = now + backoffDelayMs(entry.attempts, this.#retry, this.#random);
    }
    this.#pump();
  }

  #finish(entry: Entry, outcome: OutboxOutcome): void {
    const id = entry.message.event_id;
    this.#queued.delete(id);
    this.#outcomes.set(id, outcome);
    if (this.#outcomes.size > MAX_REMEMBERED_OUTCOMES) {
      this.#outcomes.delete(this.#outcomes.keys().next().value!);
    }
    if ("delivered" in outcome) {
      this.#delivered++;
      this.#count({ sink: this.name, outcome: "delivered" });
    } else {
      this.#dead++;
      this.#count({ sink: this.name, outcome: "dead_lettered" });
      this.#log.error(
        { sink: this.name, eventId: id, alertId: entry.message.alert_id, err: outcome.error },
        "alert message dead-lettered",
      );
    }
    if (!this.#writes) return;
    const command: OutboxMarks = { type: "outbox_marks", marks: [{ sink: this.name, eventId: id, outcome }] };
    this.#writes.submit(ALERTS_WRITER, command, (err) => {
      // at-least-once: a lost mark means a re-delivery after restart, which receivers de-duplicate
      if (err) this.#log.warn({ sink: this.name, err: err.message }, "outbox mark failed");
    });
  }
}

export { DeliveryError };
