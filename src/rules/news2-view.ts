/**
 * NEWS2 made visible, complete or not: the wire form of a subject's current assessment (snake_case, only ever
 * added to), published retained per subject on the alert broker, and answered on the control socket for
 * `vitalog news2`. Never on the admin `/status`, which carries no patient data.
 *
 * The retained topic is republished whenever what it shows changes: a new value or score, a clinician entry,
 * a parameter going stale (seen on the engine's tick), and cleared when the subject is released or erased.
 */

import type { DeviceDirectory } from "../core/ports.js";
import { type ControlOps, ControlRefusal } from "../core/ports.js";
import { SUBJECT_ID_PATTERN } from "../identifiers.js";
import type { ReadingFlag } from "../reading.js";
import type { RuleEngine } from "./engine.js";
import { type News2Assessment, type News2Config, news2Priority } from "./news2.js";
import type { News2Band, News2Parameter } from "./news2-score.js";
import type { AlertPriority } from "./rule.js";
import { conditionKey } from "./rule.js";
import type { AlertSink } from "./sinks/alert-sink.js";
import { MqttAlertSink } from "./sinks/mqtt-sink.js";

/** Schema version of {@link News2Message}; bumped only for incompatible changes. */
export const NEWS2_MESSAGE_VERSION = 1;

/** One scored parameter on the wire. */
export interface News2ParameterMessage {
  parameter: News2Parameter;
  /** As observed: a number, true/false for supplemental oxygen, an ACVPU letter. */
  value: number | boolean | string;
  /** After the documented rounding (numeric parameters only). */
  rounded: number | null;
  /** null only for SpO2 on scale 2 while air/oxygen is unknown. */
  score: number | null;
  observed_at_ms: number;
  source:
    | { type: "device"; device_id: string; reading_id: string }
    | { type: "clinician"; entered_by: string; entered_at_ms: number };
  /**
   * The parameter's newest device value when it scores more than `value` and has not yet persisted for
   * `persist_sec` (`value` is then the least abnormal value of that window, held); null otherwise. It is scored
   * from `since_ms + persist_sec` if the parameter stays at least as abnormal.
   */
  pending: { value: number; score: number; observed_at_ms: number; since_ms: number } | null;
}

/**
 * A subject's current NEWS2 [RCP NEWS2 2017]. `total`, `band` and `priority` are null unless `is_complete`;
 * `missing` lists the parameters absent, stale or pending (chart order), `stale` those of them that exist but are
 * older than their maximum age, with when they were last observed, and `pending` those whose device values have
 * not persisted `persist_sec` yet. `withheld` lists the parameters whose newest device value was signal-gated
 * (`sensor_contact_lost`, `signal_unreliable`) and so kept out of the score.
 */
export interface News2Message {
  v: typeof NEWS2_MESSAGE_VERSION;
  gateway_id: string;
  subject_id: string;
  /** When this assessment was made (gateway clock). */
  at_ms: number;
  is_complete: boolean;
  total: number | null;
  band: News2Band | null;
  /** The alert priority the band maps to (`rules.news2.bandPriority`); null below the alert bands. */
  priority: AlertPriority | null;
  scale: 1 | 2;
  /** `rules.news2.persistSec`: how long a device value must persist before it is scored. */
  persist_sec: number;
  has_red_score: boolean;
  parameters: News2ParameterMessage[];
  missing: News2Parameter[];
  stale: { parameter: News2Parameter; observed_at_ms: number }[];
  /**
   * Device parameters with values but none scored yet (a parameter's first value, or its first after a stale
   * one): `value` and `score` are the newest's; the parameter is scored from `since_ms + persist_sec`, with the
   * least abnormal value of that window.
   */
  pending: {
    parameter: News2Parameter;
    value: number;
    score: number | null;
    observed_at_ms: number;
    since_ms: number;
  }[];
  /**
   * Parameters whose newest device value was withheld by signal-quality gating, with its observation time and
   * the flag that gated it (`sensor_contact_lost` or `signal_unreliable`).
   */
  withheld: { parameter: News2Parameter; observed_at_ms: number; flag: ReadingFlag }[];
}

/** What `vitalog news2` receives per subject: the message plus the subject's NEWS2 alert, if any. */
export interface News2View extends News2Message {
  alert: { alert_id: string; priority: AlertPriority; state: string; reason: string } | null;
}

/** The wire form of an assessment. */
export function news2Message(
  a: News2Assessment,
  gatewayId: string,
  config: Pick<News2Config, "bandPriority" | "persistSec">,
): News2Message {
  return {
    v: NEWS2_MESSAGE_VERSION,
    gateway_id: gatewayId,
    subject_id: a.subjectId,
    at_ms: a.atMs,
    is_complete: a.isComplete,
    total: a.total,
    band: a.band,
    priority: news2Priority(a.band, config),
    scale: a.scale,
    persist_sec: config.persistSec,
    has_red_score: a.hasRedScore,
    parameters: a.parameters.map((p) => ({
      parameter: p.parameter,
      value: p.raw,
      rounded: p.rounded,
      score: p.score,
      observed_at_ms: p.observedAtMs,
      source:
        p.source.type === "device"
          ? { type: "device", device_id: p.source.deviceId, reading_id: p.source.readingId }
          : { type: "clinician", entered_by: p.source.enteredBy, entered_at_ms: p.source.enteredAtMs },
      pending: p.pending
        ? {
            value: p.pending.raw,
            score: p.pending.score,
            observed_at_ms: p.pending.observedAtMs,
            since_ms: p.pending.sinceMs,
          }
        : null,
    })),
    missing: [...a.missing],
    stale: a.stale.map((p) => ({ parameter: p, observed_at_ms: a.staleObservedAtMs[p] ?? 0 })),
    pending: a.pending.map((p) => ({
      parameter: p.parameter,
      value: p.raw,
      score: p.score,
      observed_at_ms: p.observedAtMs,
      since_ms: p.sinceMs,
    })),
    withheld: a.withheld.map((w) => ({
      parameter: w.parameter,
      observed_at_ms: w.observedAtMs,
      flag: w.flag,
    })),
  };
}

/** Where the current NEWS2 of every subject is published (the alert MQTT sink). */
export interface News2Publisher {
  publishNews2(subjectId: string, body: string | null): void;
}

/**
 * Publishes every change of a subject's NEWS2 through `publisher` (retained), and clears the topic of a
 * released subject. Returns the unsubscribe function.
 */
export function publishNews2Changes(deps: {
  engine: RuleEngine;
  publisher: News2Publisher;
  gatewayId: string;
  config: Pick<News2Config, "bandPriority" | "persistSec">;
}): () => void {
  /** What each subject's topic shows ({@link shownKey}). */
  const shown = new Map<string, string>();
  return deps.engine.onNews2((subjectId, assessment) => {
    if (assessment === null) {
      if (!shown.delete(subjectId)) return;
      deps.publisher.publishNews2(subjectId, null);
      return;
    }
    const key = shownKey(assessment);
    if (shown.get(subjectId) === key) return;
    shown.set(subjectId, key);
    deps.publisher.publishNews2(
      subjectId,
      JSON.stringify(news2Message(assessment, deps.gatewayId, deps.config)),
    );
  });
}

/**
 * What a published message shows, as a short key: everything but the assessment time (the engine offers every
 * subject on each tick, so this runs often and builds no message).
 */
function shownKey(a: News2Assessment): string {
  const parts = a.parameters.map((p) => {
    const src =
      p.source.type === "device" ? p.source.readingId : `${p.source.enteredBy}@${p.source.enteredAtMs}`;
    const pending = p.pending ? `>${p.pending.raw}:${p.pending.score}@${p.pending.observedAtMs}` : "";
    return `${p.parameter}=${String(p.raw)}:${p.score}@${p.observedAtMs}/${src}${pending}`;
  });
  const pending = a.pending.map((p) => `${p.parameter}=${p.raw}:${p.score}@${p.observedAtMs}/${p.sinceMs}`);
  const withheld = a.withheld.map((w) => `${w.parameter}@${w.observedAtMs}:${w.flag}`);
  return `${a.scale}|${parts.join(",")}|${a.stale.map((p) => `${p}@${a.staleObservedAtMs[p]}`).join(",")}|${a.missing.join(",")}|${pending.join(",")}|${withheld.join(",")}`;
}

/**
 * The `news2` control op: `{ "op": "news2", "subject_id"?: ID }` → `{ "subjects": News2View[] }`. Without a
 * subject: every subject NEWS2 holds anything for or a bound device reports for, sorted. With one the gateway
 * knows nothing of: refused `unknown_subject` (a mistyped id must not read as "nothing missing").
 */
export function registerNews2ControlOp(deps: {
  control: ControlOps;
  engine: RuleEngine;
  /** Subjects of the devices bound now. */
  boundSubjects: () => readonly string[];
  gatewayId: string;
  config: Pick<News2Config, "bandPriority" | "persistSec">;
}): void {
  const view = (subjectId: string): News2View => {
    const message = news2Message(deps.engine.news2(subjectId), deps.gatewayId, deps.config);
    const alert = deps.engine.alarms.forCondition(conditionKey(subjectId, "news2"));
    return {
      ...message,
      alert: alert
        ? { alert_id: alert.alert_id, priority: alert.priority, state: alert.state, reason: alert.reason }
        : null,
    };
  };
  deps.control.handle("news2", async (args) => {
    const known = new Set([...deps.engine.news2Subjects(), ...deps.boundSubjects()]);
    const subjectId = args.subject_id;
    if (subjectId === undefined) return { subjects: [...known].sort().map(view) };
    if (typeof subjectId !== "string" || !SUBJECT_ID_PATTERN.test(subjectId))
      throw new ControlRefusal("bad_request", "subject_id must be a subject id");
    if (!known.has(subjectId))
      throw new ControlRefusal(
        "unknown_subject",
        `no device is bound to ${subjectId} and NEWS2 holds nothing for it`,
      );
    return { subjects: [view(subjectId)] };
  });
}

/**
 * NEWS2 visibility for a gateway: the retained topic per subject through the alert MQTT sink (when it is on),
 * and the `news2` control op. Call from the rules composition, after the sinks are built.
 */
export function registerNews2View(
  gw: {
    readonly gatewayId: string;
    readonly news2: News2Config;
    readonly control: ControlOps;
    readonly devices: DeviceDirectory;
  },
  engine: RuleEngine,
  sinks: readonly AlertSink[],
): void {
  const { gatewayId } = gw;
  const config = gw.news2;
  const mqtt = sinks.find((s): s is MqttAlertSink => s instanceof MqttAlertSink);
  if (mqtt) publishNews2Changes({ engine, publisher: mqtt, gatewayId, config });
  registerNews2ControlOp({
    control: gw.control,
    engine,
    boundSubjects: () => gw.devices.list().map((d) => d.subjectId),
    gatewayId,
    config,
  });
}
