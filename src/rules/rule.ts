/**
 * The `Rule` contract and the alert-condition vocabulary shared by every built-in rule, the alarm manager
 * and the engine. Vocabulary follows IEC 60601-1-8 (priorities, physiological vs technical alarm
 * conditions) and IHE PCD ACM (one alert per condition, start/update/end phases): clinical.md §5.
 */
import type { DeviceStatusInput, Reading, RejectReason } from "../reading.js";

/**
 * Alarm priority [IEC 60601-1-8 §6.1.2, Table 1]: allocated from the potential result of failure to respond
 * and the onset of potential harm. Wire strings, only ever added to.
 */
export type AlertPriority = "high" | "medium" | "low";

/** Alarm condition type [IEC 60601-1-8]: a monitored patient variable, or an equipment/system state. */
export type AlertCategory = "physiological" | "technical";

export const ALERT_PRIORITIES: readonly AlertPriority[] = ["low", "medium", "high"];

/** Orders priorities: low 1 < medium 2 < high 3. */
export function priorityRank(priority: AlertPriority): number {
  return priority === "high" ? 3 : priority === "medium" ? 2 : 1;
}

/** The higher of two priorities. */
export function maxPriority(a: AlertPriority, b: AlertPriority): AlertPriority {
  return priorityRank(a) >= priorityRank(b) ? a : b;
}

/** `steps` ranks above `priority`, capped at high. */
export function raisePriority(priority: AlertPriority, steps: number): AlertPriority {
  const rank = Math.min(3, priorityRank(priority) + Math.max(0, steps));
  return ALERT_PRIORITIES[rank - 1]!;
}

/**
 * The stable de-duplication key of an alert condition: `${subjectId}:${ruleId}`, plus `:${qualifier}` when a
 * rule watches several things per subject (a device id for technical conditions). One alert exists per key
 * at a time [clinical.md §5.2 "Deduplication"].
 */
export function conditionKey(subjectId: string, ruleId: string, qualifier?: string): string {
  return qualifier === undefined ? `${subjectId}:${ruleId}` : `${subjectId}:${ruleId}:${qualifier}`;
}

/** An alarm condition a rule asserts is present. */
export interface AlertCondition {
  /** De-duplication key, see {@link conditionKey}. */
  readonly key: string;
  /** Stable rule id, e.g. "threshold.spo2.low", "news2", "technical.device_silent". */
  readonly ruleId: string;
  readonly subjectId: string;
  /** The device the condition came from; null when derived from several (NEWS2). */
  readonly deviceId: string | null;
  readonly priority: AlertPriority;
  readonly category: AlertCategory;
  /** Human-readable reason, e.g. "SpO2 84 % below 85 % for 5 s". Never contains more than the subject id. */
  readonly reason: string;
  /**
   * Set by a rule whose `reason` changes only when the condition itself changes (NEWS2: the total, the band,
   * the parameters scoring 3), never with each reading: the alarm manager then tells the sinks of a changed
   * reason at the same priority with an `update` transition [IHE PCD ACM event phase "update"]. Leave it unset
   * when the reason carries running values (a threshold rule's latest value): that would be an event per reading.
   */
  readonly isReasonTracked?: boolean | undefined;
  /**
   * When the value named in `reason` was measured (`Reading.observedAtMs`), so every alert says how old its
   * evidence is. Null or absent when no single measured value triggered the condition (a technical condition
   * is the device's state; a rule combining several values may give the newest of them).
   */
  readonly observedAtMs?: number | null | undefined;
  /**
   * How bad the condition is on the rule's own numeric scale (NEWS2: the total), and by how much it must rise
   * above its value at the last acknowledgement or silence for the alarm manager to re-alarm at the same
   * priority [clinical.md §5.2 "re-alarm when the value worsens by a configured delta"]. Absent: only a
   * priority rise re-alarms an acknowledged or silenced alert.
   */
  readonly severity?: { readonly value: number; readonly realarmOnRise: number } | undefined;
}

/**
 * What a rule reports after an evaluation. `active` asserts the condition is present (repeating it is
 * harmless: the alarm manager de-duplicates by key and only reacts to priority changes); `clear` says the
 * condition has ended. A rule reports only keys it owns.
 */
export type ConditionUpdate =
  | { readonly type: "active"; readonly condition: AlertCondition }
  | {
      readonly type: "clear";
      readonly key: string;
      readonly reason: string;
      /**
       * The condition was ended by a clinician's decision (a change of the patient's limits), not by the
       * patient's value: it ends at once, without the anti-flap clear hold, and a latched alert takes no
       * further escalation step (the clinician who ended it knows of it; it still waits for an acknowledgement).
       */
      readonly isEndedByChange?: boolean | undefined;
    };

/** Level of consciousness on the ACVPU scale [RCP NEWS2 Chart 1]: Alert, new Confusion, Voice, Pain, Unresponsive. */
export type Acvpu = "A" | "C" | "V" | "P" | "U";

/**
 * An observation only a clinician can make (NEWS2 air/oxygen and ACVPU, the SpO2 scale prescription).
 * Devices never supply these [clinical.md §2.1]. Every field present is a fresh observation; absent fields
 * leave the previous entry in place.
 */
export interface ClinicianObservation {
  readonly subjectId: string;
  /** Who entered it (user id), kept for the audit trail and shown with the NEWS2 breakdown. */
  readonly enteredBy: string;
  /** When the clinician made the observation at the bedside (ms since epoch, gateway clock). */
  readonly observedAtMs: number;
  /** When it was entered into the gateway. */
  readonly enteredAtMs: number;
  /** true = supplemental oxygen, false = breathing air. */
  readonly supplementalOxygen?: boolean | undefined;
  readonly consciousness?: Acvpu | undefined;
  /**
   * SpO2 scale prescription: 2 only for a prescribed target of 88–92 % (e.g. hypercapnic respiratory
   * failure) [RCP NEWS2 Chart 1 footnote]. A prescription does not expire; enter 1 to withdraw it.
   */
  readonly spo2Scale?: 1 | 2 | undefined;
}

/** Everything a rule can be fed. Times are gateway-clock milliseconds. */
export type RuleInput =
  | { readonly type: "reading"; readonly reading: Reading }
  | {
      readonly type: "device_status";
      readonly deviceId: string;
      readonly subjectId: string;
      readonly status: DeviceStatusInput;
      readonly atMs: number;
    }
  | {
      readonly type: "rejected";
      readonly deviceId: string;
      readonly subjectId: string;
      /** Usually a {@link RejectReason}; frame-level reasons from drivers (e.g. "decode_failed") are allowed. */
      readonly reason: RejectReason | (string & {});
      /** How many were rejected for this reason at once (one frame's records); 1 when absent. */
      readonly count?: number;
      readonly atMs: number;
    }
  | { readonly type: "clinician_observation"; readonly observation: ClinicianObservation }
  | { readonly type: "tick"; readonly atMs: number };

/**
 * A clinical or technical alerting rule.
 *
 * Contract:
 * - `evaluate` MUST be synchronous and MUST NOT do I/O (no disk, network, timers, logging): alerts do not
 *   wait for anything [DESIGN.md "Alerts do not wait"].
 * - It MUST NOT throw for any valid input (a `Reading` built by ingest, a well-formed status, rejection,
 *   observation or tick). Bad configuration is refused at construction with TypeError/RangeError instead.
 * - Time MUST come only from the input (`reading.receivedAtMs`, `atMs`, `observedAtMs`) or from `nowMs`,
 *   which the engine reads from its injected `Clock`; never from `Date.now()`.
 * - Its output MUST be a deterministic function of the sequence of inputs it has seen (in-memory state such
 *   as persistence timers and windows is allowed; randomness is not).
 * - It MUST only report condition keys it owns (built with {@link conditionKey} from its own rule ids), and
 *   MUST eventually report `clear` for a condition it reported `active` once the condition ends.
 * - It MUST ignore input types it does not handle (return an empty list).
 */
export interface Rule {
  /** Rule family id, e.g. "thresholds", "news2", "technical". */
  readonly id: string;
  readonly category: AlertCategory;
  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[];
  /** Drops all per-subject state (discharge or erasure). MUST NOT throw for an unknown subject. */
  forgetSubject(subjectId: string): void;
}
