import type { GroupCommitter } from "../batcher/commit/group-commit.js";
import {
  boundedDetail,
  MAX_SAMPLE_PAYLOAD_BYTES,
  type RejectionRecord,
} from "../batcher/commit/reading-store.js";
import type { Clock } from "../clock.js";
import type { AuditEvent } from "../core/ports.js";
import { GatewayError } from "../errors.js";
import type { UlidFactory } from "../ids.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import {
  type DeviceStatusInput,
  normaliseBatch,
  type Reading,
  type ReadingInput,
  storableProblem,
} from "../reading.js";
import { RefusalLog } from "./refusal-log.js";
import { isCataloguedReason } from "./rejection-reasons.js";
import { RejectionSampler } from "./rejection-sampler.js";

/** What one group commit writes. */
export interface CommitBatch {
  readings: Reading[];
  rejections: RejectionRecord[];
  events?: AuditEvent[];
  /** Typed write commands, each for the commit writer it names (batcher/commit/commit-writer.ts `CommitContext`). */
  commands?: { writer: string; command: unknown; fullSync?: boolean }[];
}

/** The device a frame came from, as authenticated by its transport. */
export interface Source {
  deviceId: string;
  subjectId: string;
  transport: "mqtt" | "ble" | "serial";
}

/** A frame-level or record-level refusal reported by a transport or decoder. */
export interface InputRejection {
  reason: string;
  detail: string;
}

/**
 * Observers of ingest, called synchronously in arrival order before anything is stored: this is
 * where the rule engine listens, so alerts never wait for the disk. Listeners MUST NOT throw
 * (a throwing listener is logged and skipped) and MUST NOT block.
 */
export interface IngestListener {
  onReading?(reading: Reading): void;
  /**
   * Called once per frame with every reading accepted from it (at least one), after `onReading` for each: a
   * listener that judges a device's pack as a whole (NEWS2) sees it once, so one pack gives one transition.
   */
  onReadings?(readings: readonly Reading[], source: Source): void;
  /**
   * Called once per frame that carries a device status, BEFORE that frame's readings: the status applies to
   * all of them (readings taken without sensor contact arrive flagged `sensor_contact_lost`).
   */
  onDeviceStatus?(source: Source, status: DeviceStatusInput, atMs: number): void;
  /** Called once per reason per frame: `count` (≥ 1) records or frames were refused for `reason`. */
  onRejected?(
    source: Source | { deviceId: string | null; subjectId: null },
    reason: string,
    atMs: number,
    count: number,
  ): void;
}

/** Distinct vendor refusal reasons that get a metric label of their own (see `Ingest#reasonLabel`). */
const MAX_VENDOR_REASON_LABELS = 128;

/**
 * The one place where input becomes a `Reading`: validated, normalised, stamped (id, receive time,
 * per-device sequence, subject), shown to the listeners, then handed to the group commit. `done`
 * fires only after everything from the frame, accepted or rejected, is durable.
 */
export class Ingest {
  readonly #clock: Clock;
  readonly #ids: UlidFactory;
  readonly #committer: GroupCommitter<CommitBatch>;
  readonly #log: Logger;
  readonly #listeners: IngestListener[] = [];
  readonly #seq: Map<string, number>;
  readonly #accepted;
  readonly #rejected;
  readonly #reasonLabels = new Set<string>();
  readonly #sampler = new RejectionSampler();
  readonly #refusalLog: RefusalLog;
  readonly #storage: { readonly isLow: boolean } | undefined;
  /** Devices whose last contact status said the sensor has no contact with the patient. */
  readonly #contactLost = new Set<string>();
  #subjectGate: ((subjectId: string) => InputRejection | undefined) | undefined;

  constructor(deps: {
    clock: Clock;
    ids: UlidFactory;
    committer: GroupCommitter<CommitBatch>;
    log: Logger;
    metrics: Metrics;
    lastSequences: Map<string, number>;
    /** The storage watermark: while `isLow`, readings are evaluated by the rules but not stored or acknowledged. */
    storage?: { readonly isLow: boolean };
  }) {
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#ids = deps.ids;
    this.#committer = deps.committer;
    this.#log = deps.log;
    this.#refusalLog = new RefusalLog({ log: deps.log, clock: deps.clock });
    this.#seq = new Map(deps.lastSequences);
    this.#accepted = deps.metrics.counter("vitalog_readings_accepted_total", "Readings accepted, per device");
    this.#rejected = deps.metrics.counter(
      "vitalog_rejections_total",
      "Frames and records refused, per device and reason",
    );
  }

  /**
   * A refusal reason as a metric label: a catalogued reason (rejection-reasons.ts) is its own label; of the
   * others (a vendor definition's DecodeError reasons, open-ended) the first {@link MAX_VENDOR_REASON_LABELS}
   * distinct ones are, later new ones are counted as `other` (every label set is a time series kept for the
   * life of the process). The stored rejection keeps the real reason.
   */
  #reasonLabel(reason: string): string {
    if (isCataloguedReason(reason) || this.#reasonLabels.has(reason)) return reason;
    if (this.#reasonLabels.size >= MAX_VENDOR_REASON_LABELS) return "other";
    this.#reasonLabels.add(reason);
    return reason;
  }

  /**
   * Whether the device's sensor is without contact once `status` (this frame's, if any) is applied: a frame
   * saying `sensorContact: false` marks the device, one saying `true` clears it, one saying nothing leaves it.
   * Kept in memory only: after a restart a device is trusted until it reports contact lost again.
   */
  #contactAfter(deviceId: string, status: DeviceStatusInput | undefined): boolean {
    if (status?.sensorContact === false) this.#contactLost.add(deviceId);
    else if (status?.sensorContact === true) this.#contactLost.delete(deviceId);
    return this.#contactLost.has(deviceId);
  }

  /**
   * Sets the check each frame's subject passes first: a refusal returned refuses the whole frame with its reason
   * (no listener sees its readings; stored as a rejection, counted per device and reason, acknowledged like any
   * refusal). The rules composition sets it: a subject whose record was erased gets `subject_erased`. MUST be
   * synchronous and cheap, and MUST NOT throw.
   */
  setSubjectGate(gate: (subjectId: string) => InputRejection | undefined): void {
    this.#subjectGate = gate;
  }

  addListener(listener: IngestListener): void {
    this.#listeners.push(listener);
  }

  /** Readings and refusals waiting for the group commit (for back-pressure). */
  get pendingWeight(): number {
    return this.#committer.pendingWeight;
  }

  /**
   * Counts frames a transport did not admit because the device is over its budget (admission.ts). Nothing
   * is stored, so a flood costs no disk; the device keeps what was not acknowledged.
   */
  countNotAdmitted(source: Source, reason: string, frames = 1): void {
    this.#rejected({ device: source.deviceId, reason: this.#reasonLabel(reason) }, frames);
  }

  /**
   * Validates and queues a decoded frame. `rejected` lists records the decoder already refused.
   * `raw` is kept (truncated) with any rejection.
   */
  submit(
    source: Source,
    frame: {
      inputs: readonly ReadingInput[];
      status?: DeviceStatusInput | undefined;
      rejected?: readonly InputRejection[];
    },
    raw: Uint8Array | null,
    done: (err?: Error) => void,
  ): { accepted: number; rejected: InputRejection[] } {
    const refused = this.#subjectGate?.(source.subjectId);
    if (refused !== undefined) {
      this.reject(source, refused, raw, done);
      return { accepted: 0, rejected: [refused] };
    }
    const nowMs = this.#clock.now();
    const { accepted, rejected } = normaliseBatch(frame.inputs, nowMs);
    const isStorageLow = this.#storage?.isLow === true;
    const statusRefusals: InputRejection[] = [];
    // The status first: it applies to every reading of the frame, wherever it stood in the pack, and a lost
    // contact to the device's later readings until a frame reports contact again [clinical.md §5.2
    // "Signal-quality gating"]. Those readings are stored flagged and the physiological rules ignore them.
    const status = frame.status && checkedStatus(frame.status, statusRefusals);
    const isContactLost = this.#contactAfter(source.deviceId, status);
    const readings: Reading[] = [];
    const unstorable: InputRejection[] = [];
    let seq = this.#seq.get(source.deviceId) ?? 0;
    for (const n of accepted) {
      const flags =
        isContactLost && !n.flags.includes("sensor_contact_lost")
          ? [...n.flags, "sensor_contact_lost" as const].sort()
          : n.flags;
      const reading: Reading = {
        id: this.#ids.next(nowMs),
        deviceId: source.deviceId,
        subjectId: source.subjectId,
        kind: n.kind,
        loinc: n.loinc,
        value: n.value,
        unit: n.unit,
        deviceTimeMs: n.deviceTimeMs,
        receivedAtMs: nowMs,
        observedAtMs: n.observedAtMs,
        seq: seq + 1,
        flags,
        mdc: n.mdc,
      };
      // every value that reaches SQLite is checked against what its STRICT schema enforces first: one
      // reading SQLite would refuse must never fail the commit it shares with other devices' frames
      const problem = storableProblem(reading);
      if (problem !== undefined) {
        unstorable.push({ reason: "reading_not_storable", detail: `${n.kind}: ${problem}` });
        continue;
      }
      seq += 1;
      readings.push(reading);
    }
    // readings that are not stored leave no gap in the device's sequence
    if (!isStorageLow) this.#seq.set(source.deviceId, seq);
    const refusals: InputRejection[] = [
      ...(frame.rejected ?? []),
      ...rejected.map((r) => ({ reason: r.reason, detail: r.detail })),
      ...unstorable,
      ...statusRefusals,
    ];

    // rules first: alerts never wait for the disk. The status before the readings, so the rules judge each
    // reading under the contact state it was taken in.
    if (status) this.#emit((l) => l.onDeviceStatus?.(source, status, nowMs));
    for (const r of readings) this.#emit((l) => l.onReading?.(r));
    if (readings.length > 0) this.#emit((l) => l.onReadings?.(readings, source));
    const byReason = groupByReason(refusals);
    for (const [reason, g] of byReason) this.#emit((l) => l.onRejected?.(source, reason, nowMs, g.count));

    if (isStorageLow) {
      // the alarms above still ran from memory; storing and acknowledging wait for free space. Refusals
      // are counted (not stored): the device re-sends the frame and they are recorded then.
      for (const [reason, g] of byReason)
        this.#rejected({ device: source.deviceId, reason: this.#reasonLabel(reason) }, g.count);
      done(new GatewayError("STORAGE_LOW", "free space is under the storage watermark"));
      return { accepted: 0, rejected: refusals };
    }
    if (readings.length > 0) this.#accepted({ device: source.deviceId }, readings.length);
    // one record per reason: a pack of thousands of bad entries is one count and at most one sample
    const rejections = [...byReason.values()].map((g) =>
      this.#rejection(source.deviceId, g.first, g.count, nowMs, raw),
    );
    // even an empty frame goes through the commit queue: acknowledgements must leave in arrival order
    this.#committer.submit({
      payload: { readings, rejections },
      weight: Math.max(1, readings.length + rejections.length),
      done,
    });
    return { accepted: readings.length, rejected: refusals };
  }

  /** Records a whole-frame refusal (malformed, oversize, unknown device …) durably. */
  reject(
    source: Source | { deviceId: string | null; subjectId: null },
    refusal: InputRejection,
    raw: Uint8Array | null,
    done: (err?: Error) => void = () => {},
  ): void {
    const nowMs = this.#clock.now();
    this.#emit((l) => l.onRejected?.(source, refusal.reason, nowMs, 1));
    this.#committer.submit({
      payload: { readings: [], rejections: [this.#rejection(source.deviceId, refusal, 1, nowMs, raw)] },
      weight: 1,
      done,
    });
  }

  /**
   * Counts `count` refusals of one reason, logs them (rate-limited, values only at debug) and builds their
   * record: a sample with `r`'s detail and payload while the minute's quota lasts, a count otherwise.
   */
  #rejection(
    deviceId: string | null,
    r: InputRejection,
    count: number,
    nowMs: number,
    raw: Uint8Array | null,
  ): RejectionRecord {
    this.#rejected({ device: deviceId ?? "(unknown)", reason: this.#reasonLabel(r.reason) }, count);
    this.#refusalLog.note(deviceId, r.reason, r.detail, count, nowMs);
    const base = { deviceId, receivedAtMs: nowMs, reason: r.reason, count };
    if (!this.#sampler.take(deviceId, r.reason, nowMs))
      return { ...base, detail: "", payload: null, isCountOnly: true };
    return {
      ...base,
      detail: boundedDetail(r.detail),
      // a copy: a view would carry its whole backing buffer (a socket's read chunk) to the commit thread
      payload: raw ? new Uint8Array(raw.subarray(0, MAX_SAMPLE_PAYLOAD_BYTES)) : null,
    };
  }

  #emit(fn: (l: IngestListener) => void): void {
    for (const l of this.#listeners) {
      try {
        fn(l);
      } catch (err) {
        this.#log.error({ err }, "ingest listener failed");
      }
    }
  }
}

/** Refusals grouped by reason, in order of first appearance, with the first of each (its sample). */
function groupByReason(
  refusals: readonly InputRejection[],
): Map<string, { count: number; first: InputRejection }> {
  const groups = new Map<string, { count: number; first: InputRejection }>();
  for (const r of refusals) {
    const g = groups.get(r.reason);
    if (g) g.count += 1;
    else groups.set(r.reason, { count: 1, first: r });
  }
  return groups;
}

/**
 * The device status with its impossible parts left out (each one a refusal): a battery level is a
 * percentage [Bluetooth SIG Battery Level 0x2A19: 0–100 %], a device time a finite instant. The rest of
 * the status still applies. Undefined when nothing is left.
 */
function checkedStatus(status: DeviceStatusInput, refusals: InputRejection[]): DeviceStatusInput | undefined {
  const out: DeviceStatusInput = { ...status };
  const pct = status.batteryPct;
  if (pct !== undefined && !(typeof pct === "number" && Number.isFinite(pct) && pct >= 0 && pct <= 100)) {
    delete out.batteryPct;
    refusals.push({ reason: "battery_out_of_range", detail: "battery level is not a percentage in 0–100" });
  }
  const t = status.deviceTimeMs;
  if (t !== undefined && !(typeof t === "number" && Number.isSafeInteger(Math.round(t)))) {
    delete out.deviceTimeMs;
    refusals.push({ reason: "device_time_invalid", detail: "status device time is not a valid instant" });
  }
  if (out.sensorContact !== undefined && typeof out.sensorContact !== "boolean") delete out.sensorContact;
  return Object.values(out).some((v) => v !== undefined) ? out : undefined;
}
