/**
 * Technical alarm conditions [IEC 60601-1-8: equipment or system state, not a patient variable]: device
 * silent (communication loss is itself a technical alarm in a distributed alarm system, §6.11), sensor
 * contact lost, signal quality, data not live (readings too old, too far ahead, or timed before what the device
 * already sent, to alarm on), low battery, a burst of rejected frames, a device publishing impossible values, a
 * device whose frames keep coming without a usable value, a device whose readings are refused for their time.
 * One condition per (subject, rule, device): key `${subjectId}:technical.<name>:${deviceId}`.
 *
 * [clinical.md §5.2 "Signal-quality gating"] whenever the physiological rules leave a device's values out
 * (no sensor contact, a signal the device calls unreliable, an observation time outside the staleness
 * horizon or before what the device already sent), one of these conditions says so while such data flows: a
 * value is never dropped silently.
 *
 * Every text describes the condition as it is now and stays true while the alert stands: no running counters
 * ("no data for 30 s" would be false a minute later), but the instant a condition began; a clear says
 * "ended" and how, since an alert may stay on display through its clear hold.
 */
import {
  type DeviceStatusInput,
  isSignalGated,
  isVitalKind,
  MAX_FUTURE_SKEW_MS,
  type Reading,
  VITALS,
  type VitalKind,
} from "../reading.js";
import { type AlertPriority, type ConditionUpdate, conditionKey, type Rule, type RuleInput } from "./rule.js";
import { DEFAULT_STALENESS_CONFIG, type StalenessConfig, timeliness } from "./staleness.js";

/** Technical-alarm configuration (plain data, part of the YAML schema). */
export interface TechnicalConfig {
  silentDevice: {
    enabled: boolean;
    /** Expected interval between frames for devices not listed in `devices`. */
    defaultExpectedIntervalSec: number;
    /** Silent once nothing was heard for `expectedIntervalSec × missedIntervals`. */
    missedIntervals: number;
    priority: AlertPriority;
  };
  /** Per-device expected interval, keyed by device id (e.g. a BP cuff measuring every 15 min). */
  devices: Record<string, { expectedIntervalSec: number }>;
  sensorContact: { priority: AlertPriority; persistenceSec: number };
  /** Readings the device flags `signal_unreliable` for this long (physiological rules ignore them). */
  signalQuality: { priority: AlertPriority; persistenceSec: number };
  /**
   * Readings the physiological rules leave out for their time (outside the staleness horizon, staleness.ts, or
   * timed before a reading already judged) keep arriving for this long without a live one.
   */
  dataNotLive: { priority: AlertPriority; persistenceSec: number };
  /**
   * Frames carrying vitals without a usable value (NaN, NRes, measurement unavailable …) keep arriving for this
   * long without a value (`technical.no_valid_data`).
   */
  noValidData: { priority: AlertPriority; persistenceSec: number };
  battery: {
    lowPct: number;
    criticalPct: number;
    /** Clears only once the level is this far above the limit (a battery hovering at 20 % stays one alert). */
    hysteresisPct: number;
    lowPriority: AlertPriority;
    criticalPriority: AlertPriority;
  };
  /** N rejected frames (any reason except physiologic limits) within W seconds. */
  rejectBurst: { count: number; windowSec: number; priority: AlertPriority };
  /** N rejections for below/above_physiologic_limit within W seconds: a device reporting impossible values. */
  impossibleValues: { count: number; windowSec: number; priority: AlertPriority };
}

/**
 * Defaults. `signalQuality` and `dataNotLive` are a local engineering choice, to be reviewed: MEDIUM like a lost
 * sensor contact, because all three leave a parameter unmonitored (IEC 60601-1-8 §6.1.2 Table 1 as quoted in
 * clinical.md §5.1: death or irreversible injury of delayed onset → MEDIUM); 10 s persistence like the contact alarm, so a two-second artefact does not
 * alarm; 60 s for data not live, longer than a backfill burst after a reconnect takes to arrive.
 */
export const DEFAULT_TECHNICAL_CONFIG: TechnicalConfig = {
  silentDevice: { enabled: true, defaultExpectedIntervalSec: 10, missedIntervals: 3, priority: "medium" },
  devices: {},
  sensorContact: { priority: "medium", persistenceSec: 10 },
  signalQuality: { priority: "medium", persistenceSec: 10 },
  dataNotLive: { priority: "medium", persistenceSec: 60 },
  // local engineering choice, to be reviewed: MEDIUM, because the vitals are unmonitored as with a lost sensor
  // contact (same Table 1 reading as above); 10 s like the contact alarm, so an oximeter acquiring a signal (a few
  // NaN frames) does not alarm
  noValidData: { priority: "medium", persistenceSec: 10 },
  battery: { lowPct: 20, criticalPct: 5, hysteresisPct: 5, lowPriority: "low", criticalPriority: "medium" },
  rejectBurst: { count: 5, windowSec: 60, priority: "low" },
  impossibleValues: { count: 3, windowSec: 300, priority: "medium" },
};

/** Why a reading is not live for the physiological rules (see `#timeliness`). */
type Lateness = "stale" | "future" | "out_of_order";

/** Options besides the configuration. */
export interface TechnicalRuleOptions {
  /** The staleness horizon the physiological rules apply (default DEFAULT_STALENESS_CONFIG). */
  staleness?: StalenessConfig | undefined;
  /**
   * The alarm manager's clear hold (`rules.alarms.clearHoldSec`): an alert stays on display this long after its
   * condition ended. A contact loss or an unreliable signal that comes back within it is reported at once, so
   * the held alert never reads "ended" while the condition is back. Default 0.
   */
  clearHoldSec?: number | undefined;
}

const IMPOSSIBLE_REASONS = new Set(["below_physiologic_limit", "above_physiologic_limit"]);

/** Refusal reasons (reading.ts `RejectReason`) that refuse a reading for its time, not its value. */
const REFUSED_FOR_TIME = new Set(["device_time_in_future", "time_before_storage_window"]);

/** `readings_refused_time` priority: local engineering choice, to be reviewed (see `#refusedForTime`). */
const REFUSED_FOR_TIME_PRIORITY: AlertPriority = "medium";

type Name =
  | "device_silent"
  | "sensor_contact_lost"
  | "signal_quality"
  | "data_not_live"
  | "battery_low"
  | "rejected_frames"
  | "impossible_values"
  | "no_valid_data"
  | "readings_refused_time";

/** An episode with a persistence delay: since when it holds, and when it last ended (for the clear hold). */
interface Episode {
  sinceMs: number | null;
  endedAtMs: number | null;
}

interface DeviceState {
  readonly deviceId: string;
  subjectId: string;
  lastHeardMs: number;
  contact: Episode;
  /** `issues`: what the device named as the reason (`DeviceStatusInput.measurementIssues`), for the text. */
  signal: Episode & { kinds: Set<VitalKind>; issues: Set<string> };
  /** The issues of the frame whose status came last, until a reading of another frame is seen. */
  frameIssues: { names: readonly string[]; readingAtMs: number | null } | null;
  notLive: Episode & { lastMs: number; kind: Lateness; lagSec: number };
  /**
   * Newest observation time of a live reading, per vital: what the threshold rules hold as "now".
   * `isGatewayTimed`: stamped by the gateway clock (no device time), so moved with a clock step.
   */
  newest: Map<VitalKind, { atMs: number; isGatewayTimed: boolean }>;
  batteryPct: number | null;
  rejects: number[];
  impossible: number[];
  /** Vitals the device keeps sending without a usable value, and the reasons it gave (see `#noValidData`). */
  noValue: Episode & { kinds: Set<VitalKind>; reasons: Set<string> };
  /** Readings refused at ingest for their time (see `#refusedForTime`): since when. */
  refusedTime: { sinceMs: number | null };
  /** Receive time of the device's last accepted reading: a frame's readings and refusals share one. */
  lastAcceptedMs: number | null;
  /** Priority and text currently reported per condition name. */
  reported: Map<Name, { priority: AlertPriority; reason: string }>;
}

/** Technical rules, evaluated on device traffic and on `tick`. */
export class TechnicalRule implements Rule {
  readonly id = "technical";
  readonly category = "technical" as const;
  readonly #config: TechnicalConfig;
  readonly #staleness: StalenessConfig;
  readonly #clearHoldMs: number;
  readonly #noValidDataConfig: { priority: AlertPriority; persistenceSec: number };
  readonly #devices = new Map<string, DeviceState>();

  constructor(config: TechnicalConfig, options: TechnicalRuleOptions = {}) {
    const c = config;
    if (!(c.silentDevice.defaultExpectedIntervalSec > 0) || !(c.silentDevice.missedIntervals >= 1)) {
      throw new RangeError("technical.silentDevice: defaultExpectedIntervalSec > 0 and missedIntervals >= 1");
    }
    for (const [id, d] of Object.entries(c.devices)) {
      if (!(d.expectedIntervalSec > 0))
        throw new RangeError(`technical.devices.${id}.expectedIntervalSec must be > 0`);
    }
    if (!(c.rejectBurst.count >= 1) || !(c.impossibleValues.count >= 1))
      throw new RangeError("technical: count >= 1");
    for (const [name, p] of Object.entries({
      sensorContact: c.sensorContact,
      signalQuality: c.signalQuality,
    })) {
      if (!(p.persistenceSec >= 0)) throw new RangeError(`technical.${name}.persistenceSec must be >= 0`);
    }
    if (!(c.dataNotLive.persistenceSec >= 0))
      throw new RangeError("technical.dataNotLive.persistenceSec must be >= 0");
    const noValidData = c.noValidData;
    if (!(noValidData.persistenceSec >= 0))
      throw new RangeError("technical.noValidData.persistenceSec must be >= 0");
    this.#noValidDataConfig = noValidData;
    const clearHoldSec = options.clearHoldSec ?? 0;
    if (!(clearHoldSec >= 0)) throw new RangeError("technical: clearHoldSec must be >= 0");
    this.#config = config;
    this.#staleness = options.staleness ?? DEFAULT_STALENESS_CONFIG;
    this.#clearHoldMs = clearHoldSec * 1000;
  }

  /**
   * Starts watching a bound device as if just heard (call at start-up for every bound device, so one that
   * never speaks still raises `device_silent`). Re-binding to another subject clears the old subject's alarms.
   */
  watchDevice(deviceId: string, subjectId: string, nowMs: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    this.#device(deviceId, subjectId, nowMs, out);
    return out;
  }

  /** Stops watching a device (unbound or removed) and clears its conditions. */
  unwatchDevice(deviceId: string): ConditionUpdate[] {
    const d = this.#devices.get(deviceId);
    if (!d) return [];
    const out: ConditionUpdate[] = [];
    for (const name of [...d.reported.keys()]) this.#set(d, name, null, "device no longer watched", out);
    this.#devices.delete(deviceId);
    return out;
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    switch (input.type) {
      case "reading":
        this.#onReading(input.reading, nowMs, out);
        break;
      case "device_status": {
        const d = this.#heard(input.deviceId, input.subjectId, input.atMs, out);
        if (input.status.sensorContact !== undefined)
          this.#contact(d, input.status.sensorContact, input.atMs, out);
        this.#noValidData(d, input.status.absentValues, input.atMs, out);
        // a status comes just before its frame's readings (ingest), which share one receive time
        const issues = input.status.measurementIssues;
        d.frameIssues = Array.isArray(issues)
          ? { names: issues.filter((n) => typeof n === "string"), readingAtMs: null }
          : null;
        this.#battery(d, input.status.batteryPct, out);
        break;
      }
      case "rejected":
        this.#onRejected(
          this.#heard(input.deviceId, input.subjectId, input.atMs, out),
          input.reason,
          input.atMs,
          input.count ?? 1,
          out,
        );
        this.#refusedForTime(this.#devices.get(input.deviceId)!, input.reason, input.atMs, out);
        break;
      case "tick":
        for (const d of this.#devices.values()) this.#onTick(d, nowMs, out);
        break;
    }
    return out;
  }

  /**
   * The gateway clock was stepped (clock.ts): every receive time kept moves with it (last heard, episode
   * starts and ends, reject windows, receipt-timed newest observations), so a device that stops still goes
   * silent after a step back, and a step forward makes none silent. A device's own observation times did not
   * step.
   */
  clockStepped(deltaMs: number): void {
    const shift = (ms: number | null) => (ms === null ? null : ms + deltaMs);
    for (const d of this.#devices.values()) {
      d.lastHeardMs += deltaMs;
      for (const e of [d.contact, d.signal, d.notLive, d.noValue]) {
        e.sinceMs = shift(e.sinceMs);
        e.endedAtMs = shift(e.endedAtMs);
      }
      d.notLive.lastMs += deltaMs;
      d.refusedTime.sinceMs = shift(d.refusedTime.sinceMs);
      d.lastAcceptedMs = shift(d.lastAcceptedMs);
      if (d.frameIssues) d.frameIssues.readingAtMs = shift(d.frameIssues.readingAtMs);
      for (const seen of d.newest.values()) if (seen.isGatewayTimed) seen.atMs += deltaMs;
      d.rejects = d.rejects.map((ms) => ms + deltaMs);
      d.impossible = d.impossible.map((ms) => ms + deltaMs);
    }
  }

  forgetSubject(subjectId: string): void {
    for (const [id, d] of this.#devices) if (d.subjectId === subjectId) this.#devices.delete(id);
  }

  #device(deviceId: string, subjectId: string, atMs: number, out: ConditionUpdate[]): DeviceState {
    let d = this.#devices.get(deviceId);
    if (d && d.subjectId !== subjectId) {
      out.push(...this.unwatchDevice(deviceId));
      d = undefined;
    }
    if (!d) {
      d = {
        deviceId,
        subjectId,
        lastHeardMs: atMs,
        contact: { sinceMs: null, endedAtMs: null },
        signal: { sinceMs: null, endedAtMs: null, kinds: new Set(), issues: new Set() },
        frameIssues: null,
        notLive: { sinceMs: null, endedAtMs: null, lastMs: 0, kind: "stale", lagSec: 0 },
        newest: new Map(),
        batteryPct: null,
        rejects: [],
        impossible: [],
        noValue: { sinceMs: null, endedAtMs: null, kinds: new Set(), reasons: new Set() },
        refusedTime: { sinceMs: null },
        lastAcceptedMs: null,
        reported: new Map(),
      };
      this.#devices.set(deviceId, d);
    }
    return d;
  }

  /** Any frame, accepted or not, proves the link is up. */
  #heard(deviceId: string, subjectId: string, atMs: number, out: ConditionUpdate[]): DeviceState {
    const d = this.#device(deviceId, subjectId, atMs, out);
    // inputs are evaluated as they arrive, stamped by the gateway clock: the latest is the last heard
    d.lastHeardMs = atMs;
    this.#set(d, "device_silent", null, "device heard again", out);
    return d;
  }

  #onReading(r: Reading, nowMs: number, out: ConditionUpdate[]): void {
    const d = this.#heard(r.deviceId, r.subjectId, r.receivedAtMs, out);
    d.lastAcceptedMs = r.receivedAtMs;
    if (d.refusedTime.sinceMs !== null) {
      d.refusedTime.sinceMs = null;
      const how = `readings accepted again at ${isoSec(r.receivedAtMs)}`;
      this.#set(d, "readings_refused_time", null, how, out);
    }
    // ingest flags every reading taken while the device reports no contact; an unflagged one has contact
    this.#contact(d, !r.flags.includes("sensor_contact_lost"), r.receivedAtMs, out);
    this.#signal(d, r, out);
    this.#valueSeen(d, r, out);
    // a gated reading is no patient value whatever its time: only the others can be live or not
    if (!isSignalGated(r.flags)) this.#timeliness(d, r, nowMs, out);
  }

  #contact(d: DeviceState, hasContact: boolean, atMs: number, out: ConditionUpdate[]): void {
    if (hasContact) {
      if (d.contact.sinceMs === null) return;
      d.contact.sinceMs = null;
      if (d.reported.has("sensor_contact_lost")) d.contact.endedAtMs = atMs;
      this.#set(d, "sensor_contact_lost", null, `contact restored at ${isoSec(atMs)}`, out);
      return;
    }
    d.contact.sinceMs ??= atMs;
    this.#checkContact(d, atMs, out);
  }

  #checkContact(d: DeviceState, nowMs: number, out: ConditionUpdate[]): void {
    const c = this.#config.sensorContact;
    if (!this.#isDue(d.contact, c.persistenceSec, nowMs)) return;
    const text = `the device reports no contact with the patient since ${isoSec(d.contact.sinceMs!)}; its values are not used for physiological alarms`;
    this.#set(d, "sensor_contact_lost", c.priority, text, out);
  }

  /** Readings the device flags unreliable: the episode lasts until a reading of the device is not flagged. */
  #signal(d: DeviceState, r: Reading, out: ConditionUpdate[]): void {
    const f = d.frameIssues;
    if (f) f.readingAtMs ??= r.receivedAtMs;
    const issues = f && f.readingAtMs === r.receivedAtMs ? f.names : [];
    if (f && f.readingAtMs !== r.receivedAtMs) d.frameIssues = null;
    if (!r.flags.includes("signal_unreliable")) {
      if (d.signal.sinceMs === null) return;
      d.signal.sinceMs = null;
      if (d.reported.has("signal_quality")) d.signal.endedAtMs = r.receivedAtMs;
      d.signal.kinds.clear();
      d.signal.issues.clear();
      this.#set(d, "signal_quality", null, `reliable values again at ${isoSec(r.receivedAtMs)}`, out);
      return;
    }
    d.signal.sinceMs ??= r.receivedAtMs;
    d.signal.kinds.add(r.kind);
    for (const issue of issues) d.signal.issues.add(issue);
    this.#checkSignal(d, r.receivedAtMs, out);
  }

  #checkSignal(d: DeviceState, nowMs: number, out: ConditionUpdate[]): void {
    const c = this.#config.signalQuality;
    if (!this.#isDue(d.signal, c.persistenceSec, nowMs)) return;
    const kinds = [...d.signal.kinds].map((k) => VITALS[k].display.toLowerCase()).join(", ");
    const since = isoSec(d.signal.sinceMs!);
    // the condition the device named (e.g. a glucose meter's "strip insertion error"), when it named one
    const issues = [...d.signal.issues].map((n) => n.replaceAll("_", " ")).join(", ");
    const text =
      issues === ""
        ? `the device marks its ${kinds} values unreliable since ${since}; they are not used for physiological alarms`
        : `the device reports ${issues} with its ${kinds} values since ${since}; they are not used for physiological alarms`;
    this.#set(d, "signal_quality", c.priority, text, out);
  }

  /**
   * Readings the physiological rules leave out for their time: outside the staleness horizon, or timed before a
   * live reading of the same vital already received from the device (thresholds.ts holds the newest). A backfill
   * burst after a reconnect is normal, but a device whose readings keep arriving so (a device clock far behind
   * or ahead, or set back) would otherwise never alarm again. An episode starts at the first such reading and
   * ends at a live one, or once none came for `persistenceSec`.
   */
  #timeliness(d: DeviceState, r: Reading, nowMs: number, out: ConditionUpdate[]): void {
    let t: Lateness | "live" = timeliness(r, nowMs, this.#staleness);
    const newest = d.newest.get(r.kind);
    if (t === "live" && newest !== undefined && r.observedAtMs < newest.atMs) t = "out_of_order";
    const e = d.notLive;
    if (t === "live") {
      d.newest.set(r.kind, { atMs: r.observedAtMs, isGatewayTimed: r.deviceTimeMs === null });
      if (e.sinceMs === null) return;
      this.#endNotLive(d, r.receivedAtMs, `live readings again at ${isoSec(r.receivedAtMs)}`, out);
      return;
    }
    const c = this.#config.dataNotLive;
    const persistMs = c.persistenceSec * 1000;
    if (e.sinceMs !== null && r.receivedAtMs - e.lastMs > persistMs) e.sinceMs = null;
    if (e.sinceMs === null) {
      // the text describes the episode as it began (how late, since when): it stays true while the episode lasts
      e.sinceMs = r.receivedAtMs;
      e.kind = t;
      const lagMs = t === "out_of_order" ? newest!.atMs - r.observedAtMs : r.receivedAtMs - r.observedAtMs;
      e.lagSec = Math.round(Math.abs(lagMs) / 1000);
    }
    e.lastMs = r.receivedAtMs;
    if (r.receivedAtMs - e.sinceMs < persistMs) return;
    const s = this.#staleness;
    const since = isoSec(e.sinceMs);
    const lag = duration(e.lagSec);
    const text =
      e.kind === "stale"
        ? `readings arrive ${lag} after they were measured (limit ${duration(s.maxAgeSec)}) since ${since}; they are not used for live alarms`
        : e.kind === "future"
          ? `readings are timed ${lag} ahead of the gateway clock (limit ${duration(s.maxFutureSec)}) since ${since}; they are not used for live alarms`
          : `readings are timed before ones already received from the device (${lag} before at first) since ${since}; they are not used for live alarms`;
    this.#set(d, "data_not_live", c.priority, text, out);
  }

  #endNotLive(d: DeviceState, atMs: number, how: string, out: ConditionUpdate[]): void {
    d.notLive.sinceMs = null;
    if (d.reported.has("data_not_live")) d.notLive.endedAtMs = atMs;
    this.#set(d, "data_not_live", null, how, out);
  }

  /**
   * Whether an episode has persisted long enough to report: `persistenceSec` since it began, or at once when
   * the same condition ended within the clear hold (its alert is still on display and must read true).
   */
  #isDue(e: Episode, persistenceSec: number, nowMs: number): boolean {
    if (e.sinceMs === null) return false;
    if (nowMs - e.sinceMs >= persistenceSec * 1000) return true;
    return e.endedAtMs !== null && e.sinceMs - e.endedAtMs < this.#clearHoldMs;
  }

  #battery(d: DeviceState, pct: number | undefined, out: ConditionUpdate[]): void {
    if (typeof pct !== "number" || !Number.isFinite(pct)) return;
    d.batteryPct = pct;
    const b = this.#config.battery;
    const now = d.reported.get("battery_low")?.priority;
    const isCritical =
      pct <= b.criticalPct || (now === b.criticalPriority && pct < b.criticalPct + b.hysteresisPct);
    if (isCritical) {
      const text = `critical limit ${b.criticalPct} % reached (clears at ${b.criticalPct + b.hysteresisPct} %)`;
      this.#set(d, "battery_low", b.criticalPriority, text, out);
    } else if (pct <= b.lowPct || (now !== undefined && pct < b.lowPct + b.hysteresisPct)) {
      const text = `low limit ${b.lowPct} % reached (clears at ${b.lowPct + b.hysteresisPct} %)`;
      this.#set(d, "battery_low", b.lowPriority, text, out);
    } else {
      this.#set(d, "battery_low", null, `battery at ${pct} %`, out);
    }
  }

  #onRejected(d: DeviceState, reason: string, atMs: number, count: number, out: ConditionUpdate[]): void {
    const isImpossible = IMPOSSIBLE_REASONS.has(reason);
    const times = isImpossible ? d.impossible : d.rejects;
    // Only the latest `cap` times matter (is the oldest of them inside the window?): bounded memory, and a
    // frame of thousands of refused records costs at most `cap` pushes.
    const cap = isImpossible ? this.#config.impossibleValues.count : this.#config.rejectBurst.count;
    for (let i = Math.min(count, cap); i > 0; i--) times.push(atMs);
    while (times.length > cap) times.shift();
    this.#checkRejects(d, atMs, out);
  }

  /**
   * Readings refused at ingest for their time (reading.ts: a device time more than MAX_FUTURE_SKEW_MS ahead
   * of the gateway clock, or before the storage window). A device stamping its own time (SenML `bt`) after
   * the gateway clock stepped back has every reading refused so: no physiological rule sees the patient, and
   * `rejected_frames` (LOW, a count) does not say so. Reported at the first such refusal, MEDIUM (local
   * engineering choice, to be reviewed: the same priority as `data_not_live`, whose readings the rules also
   * leave out); it ends when a reading of the device is accepted again. A frame that also had a reading
   * accepted raises nothing: the device's values still reach the rules.
   */
  #refusedForTime(d: DeviceState, reason: string, atMs: number, out: ConditionUpdate[]): void {
    if (!REFUSED_FOR_TIME.has(reason) || d.lastAcceptedMs === atMs) return;
    const e = d.refusedTime;
    e.sinceMs ??= atMs;
    const limit = duration(MAX_FUTURE_SKEW_MS / 1000);
    const why =
      reason === "device_time_in_future"
        ? `the device's time is more than ${limit} ahead of the gateway clock`
        : "the device's time is before the storage window (2000-01-01)";
    const text = `its readings are refused since ${isoSec(e.sinceMs)}: ${why}; this patient's values from it are not monitored`;
    this.#set(d, "readings_refused_time", REFUSED_FOR_TIME_PRIORITY, text, out);
  }

  #checkRejects(d: DeviceState, nowMs: number, out: ConditionUpdate[]): void {
    const burst = this.#config.rejectBurst;
    const imp = this.#config.impossibleValues;
    prune(d.rejects, nowMs - burst.windowSec * 1000);
    prune(d.impossible, nowMs - imp.windowSec * 1000);
    if (d.rejects.length >= burst.count) {
      const text = `${burst.count} or more frames rejected within ${burst.windowSec} s`;
      this.#set(d, "rejected_frames", burst.priority, text, out);
    } else {
      const text = `fewer than ${burst.count} frames rejected within ${burst.windowSec} s`;
      this.#set(d, "rejected_frames", null, text, out);
    }
    if (d.impossible.length >= imp.count) {
      const text = `${imp.count} or more physiologically impossible values within ${imp.windowSec} s`;
      this.#set(d, "impossible_values", imp.priority, text, out);
    } else {
      const text = `fewer than ${imp.count} physiologically impossible values within ${imp.windowSec} s`;
      this.#set(d, "impossible_values", null, text, out);
    }
  }

  #onTick(d: DeviceState, nowMs: number, out: ConditionUpdate[]): void {
    const s = this.#config.silentDevice;
    const interval = this.#config.devices[d.deviceId]?.expectedIntervalSec ?? s.defaultExpectedIntervalSec;
    if (s.enabled && nowMs - d.lastHeardMs > interval * s.missedIntervals * 1000) {
      const text = `no data since ${isoSec(d.lastHeardMs)} (expected every ${interval} s)`;
      this.#set(d, "device_silent", s.priority, text, out);
    }
    this.#checkContact(d, nowMs, out);
    if (d.signal.sinceMs !== null) this.#checkSignal(d, nowMs, out);
    const e = d.notLive;
    if (e.sinceMs !== null && nowMs - e.lastMs > this.#config.dataNotLive.persistenceSec * 1000) {
      this.#endNotLive(d, nowMs, `no late or early readings since ${isoSec(e.lastMs)}`, out);
    }
    this.#checkRejects(d, nowMs, out);
  }

  /**
   * Frames that carry vitals without a usable value (`DeviceStatusInput.absentValues`). One such frame is no
   * alarm (an oximeter acquiring a signal sends NaN for a few seconds), but a device that keeps sending them
   * leaves those vitals unmonitored: a technical alarm condition [clinical.md §1.6 "probe off" example: a
   * technical alert, no physiological value; §5.1 IEC 60601-1-8 technical alarm conditions]. Reported once a
   * frame without a value arrives `noValidData.persistenceSec` after the first one of the episode ("keeps
   * sending"; a single failed spot check is not an episode), and at once when its ended alert is still held.
   * The episode ends when a value of each vital it named arrives. While the device reports no sensor contact,
   * `sensor_contact_lost` already says why values are missing: no second alarm.
   */
  #noValidData(
    d: DeviceState,
    absent: DeviceStatusInput["absentValues"],
    atMs: number,
    out: ConditionUpdate[],
  ): void {
    if (!Array.isArray(absent)) return;
    const named = absent.filter(
      (a) => a !== null && typeof a === "object" && isVitalKind(a.kind) && typeof a.reason === "string",
    );
    if (named.length === 0) return;
    const e = d.noValue;
    if (d.contact.sinceMs !== null) {
      if (e.sinceMs !== null) {
        const how = `the device reports no sensor contact since ${isoSec(d.contact.sinceMs)}`;
        this.#endNoValue(d, atMs, how, out);
      }
      return;
    }
    e.sinceMs ??= atMs;
    // the vitals this frame sent without a value are the condition now (one that came back is no longer named)
    e.kinds.clear();
    for (const a of named) {
      e.kinds.add(a.kind);
      if (e.reasons.size < MAX_NO_VALUE_REASONS) e.reasons.add(absentReasonText(a.reason));
    }
    const c = this.#noValidDataConfig;
    if (d.reported.has("no_valid_data") || this.#isDue(e, c.persistenceSec, atMs))
      this.#reportNoValue(d, out);
  }

  /**
   * A reading of a vital the episode named: that vital has a value again; the episode ends with the last one.
   * While others are still missing, the next frame without a value re-states which.
   */
  #valueSeen(d: DeviceState, r: Reading, out: ConditionUpdate[]): void {
    const e = d.noValue;
    if (e.sinceMs === null || !e.kinds.delete(r.kind) || e.kinds.size > 0) return;
    this.#endNoValue(d, r.receivedAtMs, `a value again at ${isoSec(r.receivedAtMs)}`, out);
  }

  #reportNoValue(d: DeviceState, out: ConditionUpdate[]): void {
    const e = d.noValue;
    const kinds = [...e.kinds].map((k) => VITALS[k].display.toLowerCase());
    const list = kinds.length === 1 ? kinds[0] : `${kinds.slice(0, -1).join(", ")} or ${kinds.at(-1)}`;
    const text = `the device sends no usable ${list} value since ${isoSec(e.sinceMs!)} (it reports ${[...e.reasons].join(", ")}); ${kinds.length === 1 ? "this vital is" : "these vitals are"} not monitored`;
    this.#set(d, "no_valid_data", this.#noValidDataConfig.priority, text, out);
  }

  #endNoValue(d: DeviceState, atMs: number, how: string, out: ConditionUpdate[]): void {
    const e = d.noValue;
    e.sinceMs = null;
    e.kinds.clear();
    e.reasons.clear();
    if (d.reported.has("no_valid_data")) e.endedAtMs = atMs;
    this.#set(d, "no_valid_data", null, how, out);
  }

  /**
   * Reports a change of one condition (priority or text; null = cleared); repeats are dropped here. The text is
   * prefixed with the condition's name, and a clear with "ended", so an alert held after its condition ended
   * still says what it was and that it is over.
   */
  #set(
    d: DeviceState,
    name: Name,
    priority: AlertPriority | null,
    reason: string,
    out: ConditionUpdate[],
  ): void {
    const prev = d.reported.get(name);
    const label = name.replaceAll("_", " ");
    const ruleId = `technical.${name}`;
    const key = conditionKey(d.subjectId, ruleId, d.deviceId);
    if (priority === null) {
      if (!prev) return;
      d.reported.delete(name);
      out.push({ type: "clear", key, reason: `${label}: ended, ${reason}` });
      return;
    }
    const text = `${label}: ${reason}`;
    if (prev?.priority === priority && prev.reason === text) return;
    d.reported.set(name, { priority, reason: text });
    out.push({
      type: "active",
      condition: {
        key,
        ruleId,
        subjectId: d.subjectId,
        deviceId: d.deviceId,
        priority,
        category: "technical",
        reason: text,
      },
    });
  }
}

/** Distinct reasons a `no valid data` text names (reasons come from vendor decoders too: bounded). */
const MAX_NO_VALUE_REASONS = 4;

/** How an absent value's reason reads in alert text [clinical.md §1.2 special values]. */
const ABSENT_REASON_TEXT: Readonly<Record<string, string>> = {
  nan: "not a number (NaN)",
  nres: "not at this resolution (NRes)",
  positive_infinity: "+INFINITY",
  negative_infinity: "-INFINITY",
  reserved: "a reserved value",
};

function absentReasonText(reason: string): string {
  if (Object.hasOwn(ABSENT_REASON_TEXT, reason)) return ABSENT_REASON_TEXT[reason]!;
  // a vendor decoder's reason is a snake_case wire string; anything else is not repeated into alert text
  return /^[a-z][a-z0-9_]{0,47}$/.test(reason) ? reason.replaceAll("_", " ") : "an unnamed reason";
}

/** A duration for alert text: seconds up to 2 min, then minutes, hours, days (rounded down). */
function duration(sec: number): string {
  if (sec < 120) return `${sec} s`;
  if (sec < 7200) return `${Math.floor(sec / 60)} min`;
  if (sec < 172_800) return `${Math.floor(sec / 3600)} h`;
  return `${Math.floor(sec / 86_400)} d`;
}

/** An instant as ISO-8601 UTC to the second: alert texts name when a condition began, never a running count. */
function isoSec(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function prune(times: number[], horizon: number): void {
  while (times.length > 0 && times[0]! < horizon) times.shift();
}
