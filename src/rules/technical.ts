/**
 * Technical alarm conditions [IEC 60601-1-8: equipment or system state, not a patient variable]: device
 * silent (communication loss is itself a technical alarm in a distributed alarm system, §6.11), sensor
 * contact lost, low battery, a burst of rejected frames, a device publishing impossible values.
 * One condition per (subject, rule, device): key `${subjectId}:technical.<name>:${deviceId}`.
 */
import type { DeviceStatusInput, Reading } from "../reading.js";
import { type AlertPriority, type ConditionUpdate, conditionKey, type Rule, type RuleInput } from "./rule.js";

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

export const DEFAULT_TECHNICAL_CONFIG: TechnicalConfig = {
  silentDevice: { enabled: true, defaultExpectedIntervalSec: 10, missedIntervals: 3, priority: "medium" },
  devices: {},
  sensorContact: { priority: "medium", persistenceSec: 10 },
  battery: { lowPct: 20, criticalPct: 5, hysteresisPct: 5, lowPriority: "low", criticalPriority: "medium" },
  rejectBurst: { count: 5, windowSec: 60, priority: "low" },
  impossibleValues: { count: 3, windowSec: 300, priority: "medium" },
};

const IMPOSSIBLE_REASONS = new Set(["below_physiologic_limit", "above_physiologic_limit"]);

type Name = "device_silent" | "sensor_contact_lost" | "battery_low" | "rejected_frames" | "impossible_values";

interface DeviceState {
  readonly deviceId: string;
  subjectId: string;
  lastHeardMs: number;
  contactLostSince: number | null;
  batteryPct: number | null;
  rejects: number[];
  impossible: number[];
  /** Priority currently reported per condition name. */
  reported: Map<Name, AlertPriority>;
}

/** Technical rules, evaluated on device traffic and on `tick`. */
export class TechnicalRule implements Rule {
  readonly id = "technical";
  readonly category = "technical" as const;
  readonly #config: TechnicalConfig;
  readonly #devices = new Map<string, DeviceState>();

  constructor(config: TechnicalConfig) {
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
    this.#config = config;
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
        this.#onReading(input.reading, out);
        break;
      case "device_status":
        this.#onStatus(
          this.#heard(input.deviceId, input.subjectId, input.atMs, out),
          input.status,
          input.atMs,
          out,
        );
        break;
      case "rejected":
        this.#onRejected(
          this.#heard(input.deviceId, input.subjectId, input.atMs, out),
          input.reason,
          input.atMs,
          input.count ?? 1,
          out,
        );
        break;
      case "tick":
        for (const d of this.#devices.values()) this.#onTick(d, nowMs, out);
        break;
    }
    return out;
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
        contactLostSince: null,
        batteryPct: null,
        rejects: [],
        impossible: [],
        reported: new Map(),
      };
      this.#devices.set(deviceId, d);
    }
    return d;
  }

  /** Any frame, accepted or not, proves the link is up. */
  #heard(deviceId: string, subjectId: string, atMs: number, out: ConditionUpdate[]): DeviceState {
    const d = this.#device(deviceId, subjectId, atMs, out);
    d.lastHeardMs = Math.max(d.lastHeardMs, atMs);
    this.#set(d, "device_silent", null, "device heard again", out);
    return d;
  }

  #onReading(r: Reading, out: ConditionUpdate[]): void {
    const d = this.#heard(r.deviceId, r.subjectId, r.receivedAtMs, out);
    this.#contact(d, !r.flags.includes("sensor_contact_lost"), r.receivedAtMs, out);
  }

  #onStatus(d: DeviceState, status: DeviceStatusInput, atMs: number, out: ConditionUpdate[]): void {
    if (status.sensorContact !== undefined) this.#contact(d, status.sensorContact, atMs, out);
    const pct = status.batteryPct;
    if (typeof pct !== "number" || !Number.isFinite(pct)) return;
    d.batteryPct = pct;
    const b = this.#config.battery;
    const now = d.reported.get("battery_low");
    let level: AlertPriority | null = null;
    if (pct <= b.criticalPct || (now === b.criticalPriority && pct < b.criticalPct + b.hysteresisPct)) {
      level = b.criticalPriority;
    } else if (pct <= b.lowPct || (now !== undefined && pct < b.lowPct + b.hysteresisPct)) {
      level = b.lowPriority;
    }
    this.#set(d, "battery_low", level, `battery at ${pct} %`, out);
  }

  #contact(d: DeviceState, hasContact: boolean, atMs: number, out: ConditionUpdate[]): void {
    if (hasContact) {
      d.contactLostSince = null;
      this.#set(d, "sensor_contact_lost", null, "sensor contact restored", out);
      return;
    }
    d.contactLostSince ??= atMs;
    this.#checkContact(d, atMs, out);
  }

  #checkContact(d: DeviceState, nowMs: number, out: ConditionUpdate[]): void {
    const c = this.#config.sensorContact;
    if (d.contactLostSince !== null && nowMs - d.contactLostSince >= c.persistenceSec * 1000) {
      this.#set(d, "sensor_contact_lost", c.priority, "sensor lost contact with the patient", out);
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

  #checkRejects(d: DeviceState, nowMs: number, out: ConditionUpdate[]): void {
    const burst = this.#config.rejectBurst;
    const imp = this.#config.impossibleValues;
    prune(d.rejects, nowMs - burst.windowSec * 1000);
    prune(d.impossible, nowMs - imp.windowSec * 1000);
    const isBurst = d.rejects.length >= burst.count;
    this.#set(
      d,
      "rejected_frames",
      isBurst ? burst.priority : null,
      `${d.rejects.length} or more frames rejected within ${burst.windowSec} s`,
      out,
    );
    const isImpossible = d.impossible.length >= imp.count;
    const text = `${d.impossible.length} or more physiologically impossible values within ${imp.windowSec} s`;
    this.#set(d, "impossible_values", isImpossible ? imp.priority : null, text, out);
  }

  #onTick(d: DeviceState, nowMs: number, out: ConditionUpdate[]): void {
    const s = this.#config.silentDevice;
    const interval = this.#config.devices[d.deviceId]?.expectedIntervalSec ?? s.defaultExpectedIntervalSec;
    const silentMs = nowMs - d.lastHeardMs;
    if (s.enabled && silentMs > interval * s.missedIntervals * 1000) {
      const text = `no data for ${Math.round(silentMs / 1000)} s (expected every ${interval} s)`;
      this.#set(d, "device_silent", s.priority, text, out);
    }
    this.#checkContact(d, nowMs, out);
    this.#checkRejects(d, nowMs, out);
  }

  /** Reports a change of one condition's priority (null = cleared); repeats are dropped here. */
  #set(
    d: DeviceState,
    name: Name,
    priority: AlertPriority | null,
    reason: string,
    out: ConditionUpdate[],
  ): void {
    const prev = d.reported.get(name) ?? null;
    if (prev === priority) return;
    const ruleId = `technical.${name}`;
    const key = conditionKey(d.subjectId, ruleId, d.deviceId);
    if (priority === null) {
      d.reported.delete(name);
      out.push({ type: "clear", key, reason });
      return;
    }
    d.reported.set(name, priority);
    const condition = {
      key,
      ruleId,
      subjectId: d.subjectId,
      deviceId: d.deviceId,
      priority,
      category: "technical" as const,
    };
    out.push({
      type: "active",
      condition: { ...condition, reason: `${name.replaceAll("_", " ")}: ${reason}` },
    });
  }
}

function prune(times: number[], horizon: number): void {
  while (times.length > 0 && times[0]! < horizon) times.shift();
}
