/**
 * NEWS2 per subject, recomputed as parameters arrive [RCP NEWS2 2017; clinical.md §2]. Device readings
 * supply respiratory rate, SpO2, systolic BP, pulse (heart_rate or pulse_rate, the newer) and temperature;
 * air/oxygen, ACVPU and the SpO2 scale prescription come only from a `ClinicianObservation`.
 *
 * Never silently computed: if any parameter is missing or older than its configured maximum age, the
 * assessment is "incomplete", lists the missing parameters, and has no total and no band.
 *
 * Band → alert priority mapping (configurable, defaults below), following IEC 60601-1-8 Table 1:
 * - zero (0) and low (1–4): no alarm. Chart 4 asks for routine 4–12-hourly observation and an RN review;
 *   alarming there would be an information signal dressed as an alarm (alarm fatigue, clinical.md §5.2).
 * - low_medium (single parameter 3): LOW priority: urgent ward-based response, harm onset delayed.
 * - medium (5–6): MEDIUM priority: key threshold for urgent response, prompt onset.
 * - high (≥ 7): HIGH priority: emergency response, possible death with prompt onset.
 *
 * An incomplete assessment neither raises nor clears the NEWS2 alert: the last complete one stands.
 */
import type { Reading, VitalKind } from "../reading.js";
import {
  NEWS2_PARAMETERS,
  type News2Band,
  type News2Parameter,
  news2Band,
  roundHalfUp,
  scoreConsciousness,
  scorePulse,
  scoreRespiratoryRate,
  scoreSpo2Scale1,
  scoreSpo2Scale2,
  scoreSupplementalOxygen,
  scoreSystolicBp,
  scoreTemperature,
} from "./news2-score.js";
import type { Acvpu, AlertPriority, ClinicianObservation, ConditionUpdate, Rule, RuleInput } from "./rule.js";
import { conditionKey } from "./rule.js";

/** NEWS2 configuration (plain data, part of the YAML schema). */
export interface News2Config {
  enabled: boolean;
  /** A parameter older than this (by its observation time) counts as missing. */
  maxAgeSec: Record<News2Parameter, number>;
  /** Alert priority per band; null = no alert. */
  bandPriority: Record<"low" | "low_medium" | "medium" | "high", AlertPriority | null>;
  /** Local policy: treat a single-parameter 3 like an aggregate 5–6 [clinical.md §2.2]. */
  redScoreAsMedium: boolean;
}

/** Device vitals expire after 1 h, clinician entries after 4 h (the 4–6-hourly low-risk observation cycle). */
export const DEFAULT_NEWS2_CONFIG: News2Config = {
  enabled: true,
  maxAgeSec: {
    respiratory_rate: 3600,
    spo2: 3600,
    supplemental_oxygen: 4 * 3600,
    systolic_bp: 3600,
    pulse: 3600,
    consciousness: 4 * 3600,
    temperature: 3600,
  },
  bandPriority: { low: null, low_medium: "low", medium: "medium", high: "high" },
  redScoreAsMedium: false,
};

/** Method note for the README and `vitalog` help: what the gateway's NEWS2 does and does not do. */
export const NEWS2_METHOD_NOTE = [
  "NEWS2 follows RCP 2017 Chart 1. RR, SpO2, systolic BP and pulse are rounded half-up to an integer and",
  "temperature half-up to 0.1 °C before scoring (RR 20.5 scores as 21). SpO2 scale 2 is used only when a",
  "clinician has prescribed it (target 88–92 %); on scale 2, SpO2 ≥ 93 % scores 0 on air and 1–3 on oxygen.",
  "Air/oxygen and ACVPU come only from clinician entry. If any parameter is missing or older than its",
  "maximum age, NEWS2 is reported incomplete with the missing parameters and no total.",
  "Bands: 0 zero, 1–4 low, a single 3 low-medium, 5–6 medium, ≥ 7 high. Default alert priorities:",
  "zero and low none, low-medium LOW, medium MEDIUM, high HIGH.",
].join("\n");

/** Where a parameter value came from. */
export type News2Source =
  | { readonly type: "device"; readonly deviceId: string; readonly readingId: string }
  | { readonly type: "clinician"; readonly enteredBy: string; readonly enteredAtMs: number };

/** One scored parameter. `score` is null only for SpO2 on scale 2 while air/oxygen is unknown. */
export interface News2ParameterResult {
  readonly parameter: News2Parameter;
  readonly raw: number | boolean | Acvpu;
  /** The value after the documented rounding (numeric parameters only). */
  readonly rounded: number | null;
  readonly score: number | null;
  readonly observedAtMs: number;
  readonly source: News2Source;
}

/** A NEWS2 assessment. `total` and `band` are non-null exactly when `isComplete`. */
export interface News2Assessment {
  readonly subjectId: string;
  readonly atMs: number;
  readonly scale: 1 | 2;
  readonly isComplete: boolean;
  readonly total: number | null;
  readonly band: News2Band | null;
  /** Some available parameter scores 3 ("red score"). */
  readonly hasRedScore: boolean;
  readonly parameters: readonly News2ParameterResult[];
  /** Parameters absent or stale, in chart order. */
  readonly missing: readonly News2Parameter[];
  /** The subset of `missing` that exists but is older than its maximum age. */
  readonly stale: readonly News2Parameter[];
}

interface Observed<T> {
  value: T;
  observedAtMs: number;
  source: News2Source;
}

interface SubjectParams {
  values: Partial<Record<News2Parameter, Observed<number | boolean | Acvpu>>>;
  scale: 1 | 2;
  reported: AlertPriority | null;
}

const KIND_TO_PARAMETER: Partial<Record<VitalKind, News2Parameter>> = {
  respiratory_rate: "respiratory_rate",
  spo2: "spo2",
  bp_systolic: "systolic_bp",
  heart_rate: "pulse",
  pulse_rate: "pulse",
  body_temperature: "temperature",
};

/**
 * Scores one subject's parameters at `nowMs`. Pure: used by the rule and directly by tests and the CLI.
 */
export function assessNews2(
  subjectId: string,
  values: Partial<Record<News2Parameter, Observed<number | boolean | Acvpu>>>,
  scale: 1 | 2,
  nowMs: number,
  config: Pick<News2Config, "maxAgeSec" | "redScoreAsMedium">,
): News2Assessment {
  const missing: News2Parameter[] = [];
  const stale: News2Parameter[] = [];
  const fresh: Partial<Record<News2Parameter, Observed<number | boolean | Acvpu>>> = {};
  for (const p of NEWS2_PARAMETERS) {
    const o = values[p];
    if (!o) missing.push(p);
    else if (nowMs - o.observedAtMs > config.maxAgeSec[p] * 1000) {
      missing.push(p);
      stale.push(p);
    } else fresh[p] = o;
  }
  const oxygen = fresh.supplemental_oxygen?.value as boolean | undefined;
  const parameters: News2ParameterResult[] = [];
  for (const p of NEWS2_PARAMETERS) {
    const o = fresh[p];
    if (!o) continue;
    let rounded: number | null = null;
    let score: number | null;
    const v = o.value;
    if (p === "supplemental_oxygen") score = scoreSupplementalOxygen(v as boolean);
    else if (p === "consciousness") score = scoreConsciousness(v as Acvpu);
    else {
      const n = v as number;
      rounded = roundHalfUp(n, p === "temperature" ? 1 : 0);
      if (p === "respiratory_rate") score = scoreRespiratoryRate(n);
      else if (p === "systolic_bp") score = scoreSystolicBp(n);
      else if (p === "pulse") score = scorePulse(n);
      else if (p === "temperature") score = scoreTemperature(n);
      else if (scale === 1) score = scoreSpo2Scale1(n);
      else score = oxygen === undefined ? null : scoreSpo2Scale2(n, oxygen);
    }
    parameters.push({ parameter: p, raw: v, rounded, score, observedAtMs: o.observedAtMs, source: o.source });
  }
  const hasRedScore = parameters.some((r) => r.score === 3);
  const isComplete = missing.length === 0;
  const total = isComplete ? parameters.reduce((sum, r) => sum + (r.score ?? 0), 0) : null;
  return {
    subjectId,
    atMs: nowMs,
    scale,
    isComplete,
    total,
    band: total === null ? null : news2Band(total, hasRedScore, config.redScoreAsMedium),
    hasRedScore,
    parameters,
    missing,
    stale,
  };
}

/** The NEWS2 rule: one condition per subject, key `${subjectId}:news2`, priority from the band. */
export class News2Rule implements Rule {
  readonly id = "news2";
  readonly category = "physiological" as const;
  readonly #config: News2Config;
  readonly #subjects = new Map<string, SubjectParams>();

  constructor(config: News2Config) {
    for (const p of NEWS2_PARAMETERS) {
      const age = config.maxAgeSec[p];
      if (!(age > 0)) throw new RangeError(`news2.maxAgeSec.${p} must be > 0`);
    }
    this.#config = config;
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    if (!this.#config.enabled) return [];
    const out: ConditionUpdate[] = [];
    if (input.type === "reading") {
      if (this.#onReading(input.reading)) this.#report(input.reading.subjectId, nowMs, out);
    } else if (input.type === "clinician_observation") {
      this.#onObservation(input.observation);
      this.#report(input.observation.subjectId, nowMs, out);
    } else if (input.type === "tick") {
      for (const subjectId of this.#subjects.keys()) this.#report(subjectId, nowMs, out);
    }
    return out;
  }

  /** The current assessment of a subject (incomplete with every parameter missing when unknown). */
  assess(subjectId: string, nowMs: number): News2Assessment {
    const s = this.#subjects.get(subjectId);
    return assessNews2(subjectId, s?.values ?? {}, s?.scale ?? 1, nowMs, this.#config);
  }

  forgetSubject(subjectId: string): void {
    this.#subjects.delete(subjectId);
  }

  #subject(subjectId: string): SubjectParams {
    let s = this.#subjects.get(subjectId);
    if (!s) {
      s = { values: {}, scale: 1, reported: null };
      this.#subjects.set(subjectId, s);
    }
    return s;
  }

  #onReading(reading: Reading): boolean {
    const p = KIND_TO_PARAMETER[reading.kind];
    if (!p) return false;
    // A buffered upload is as old as its observation; a device clock ahead of ours is not trusted.
    const observedAtMs = Math.min(reading.observedAtMs, reading.receivedAtMs);
    const s = this.#subject(reading.subjectId);
    const prev = s.values[p];
    if (prev && prev.observedAtMs > observedAtMs) return false;
    s.values[p] = {
      value: reading.value,
      observedAtMs,
      source: { type: "device", deviceId: reading.deviceId, readingId: reading.id },
    };
    return true;
  }

  #onObservation(obs: ClinicianObservation): void {
    const s = this.#subject(obs.subjectId);
    const source: News2Source = { type: "clinician", enteredBy: obs.enteredBy, enteredAtMs: obs.enteredAtMs };
    const put = (p: News2Parameter, value: boolean | Acvpu | undefined) => {
      const prev = s.values[p];
      if (value === undefined || (prev && prev.observedAtMs > obs.observedAtMs)) return;
      s.values[p] = { value, observedAtMs: obs.observedAtMs, source };
    };
    put("supplemental_oxygen", obs.supplementalOxygen);
    put("consciousness", obs.consciousness);
    if (obs.spo2Scale !== undefined) s.scale = obs.spo2Scale;
  }

  #report(subjectId: string, nowMs: number, out: ConditionUpdate[]): void {
    const s = this.#subjects.get(subjectId);
    if (!s) return;
    const a = assessNews2(subjectId, s.values, s.scale, nowMs, this.#config);
    if (!a.isComplete || a.band === null) return;
    const priority = a.band === "zero" ? null : this.#config.bandPriority[a.band];
    if (priority === s.reported) return;
    s.reported = priority;
    const key = conditionKey(subjectId, "news2");
    const summary = `NEWS2 ${a.total} (${a.band.replace("_", "-")} clinical risk, SpO2 scale ${a.scale})`;
    if (priority === null) {
      out.push({ type: "clear", key, reason: summary });
      return;
    }
    const red = a.parameters.filter((r) => r.score === 3).map((r) => r.parameter);
    out.push({
      type: "active",
      condition: {
        key,
        ruleId: "news2",
        subjectId,
        deviceId: null,
        priority,
        category: "physiological",
        reason: red.length > 0 ? `${summary}; scoring 3: ${red.join(", ")}` : summary,
      },
    });
  }
}
