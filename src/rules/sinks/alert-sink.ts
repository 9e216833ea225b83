/**
 * The `AlertSink` contract: every delivery channel for alert transitions (MQTT topics, webhook, HL7 PCD-04
 * over MLLP …) implements it and runs the shared conformance suite (test/rules/sink-conformance.ts).
 */
import type { Service } from "../../core/service.js";
import type { AlertMessage } from "./alert-message.js";

/** What a sink reports about itself (in `vitalog status` and for the sink-down technical alarm). */
export interface SinkHealth {
  /** false while the receiver is unreachable or refusing. */
  readonly isUp: boolean;
  /** Since when the sink has been down (gateway clock), null when up. */
  readonly downSinceMs: number | null;
  /** Messages accepted by `deliver` and not yet delivered or dead-lettered. */
  readonly pending: number;
  readonly delivered: number;
  readonly deadLettered: number;
  readonly lastError: string | null;
}

/**
 * A destination for alert transitions.
 *
 * Contract:
 * - `deliver` MUST be synchronous and MUST return without waiting for any I/O: it is called on the ingest
 *   path, before storage [DESIGN.md "Alerts do not wait"]. It MUST NOT throw, whatever the state of the
 *   sink (not started, stopped, receiver down): failures are counted and reported through `health()`.
 * - A sink MUST NOT depend on the database to deliver: when the store fails, messages handed to `deliver`
 *   are still delivered from memory. A durable sink (`isDurable`) additionally finds, at `start`, the
 *   messages that were persisted in its outbox and not delivered before a crash, and delivers them.
 * - A sink MUST deliver the messages it was given in the order given (per sink), at least once; a
 *   receiver de-duplicates by `event_id`. It MUST NOT reorder a retry behind later messages.
 * - A sink retries on its own (bounded exponential backoff with jitter) and MUST NOT affect other sinks
 *   or ingest when its receiver is slow or down; a permanent refusal dead-letters the one message.
 * - `stop` MUST release every socket and timer and resolve within a bounded time even when the receiver
 *   hangs; undelivered durable messages stay in the outbox for the next start.
 */
export interface AlertSink extends Service {
  /** true when undelivered messages survive a restart (outbox rows written in the group commit). */
  readonly isDurable: boolean;
  deliver(message: AlertMessage): void;
  health(): SinkHealth;
}
