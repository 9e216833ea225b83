import type { GroupCommitter } from "../batcher/group-commit.js";
import type { RejectionRecord } from "../batcher/reading-store.js";
import type { Clock } from "../clock.js";
import type { UlidFactory } from "../ids.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { type DeviceStatusInput, normaliseBatch, type Reading, type ReadingInput } from "../reading.js";

/**
 * An auditable event other than a reading (device bound/unbound, alert raised/acknowledged/resolved,
 * subject erased …). It is committed in the same group commit as readings and, when the
 * tamper-evident log is on, appended to it in arrival order. `type` is a snake_case wire string.
 */
export interface AuditEvent {
  type: string;
  atMs: number;
  subjectId: string | null;
  deviceId: string | null;
  data: Readonly<Record<string, unknown>>;
}

/** What one group commit writes. */
export interface CommitBatch {
  readings: Reading[];
  rejections: RejectionRecord[];
  events?: AuditEvent[];
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
  onDeviceStatus?(source: Source, status: DeviceStatusInput, atMs: number): void;
  onRejected?(
    source: Source | { deviceId: string | null; subjectId: null },
    reason: string,
    atMs: number,
  ): void;
}

/** Most bytes of a rejected payload kept for forensics. */
export const MAX_KEPT_PAYLOAD_BYTES = 4096;

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

  constructor(deps: {
    clock: Clock;
    ids: UlidFactory;
    committer: GroupCommitter<CommitBatch>;
    log: Logger;
    metrics: Metrics;
    lastSequences: Map<string, number>;
  }) {
    this.#clock = deps.clock;
    this.#ids = deps.ids;
    this.#committer = deps.committer;
    this.#log = deps.log;
    this.#seq = new Map(deps.lastSequences);
    this.#accepted = deps.metrics.counter("vitalog_readings_accepted_total", "Readings accepted, per device");
    this.#rejected = deps.metrics.counter(
      "vitalog_rejections_total",
      "Frames and records refused, per device and reason",
    );
  }

  addListener(listener: IngestListener): void {
    this.#listeners.push(listener);
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
    const nowMs = this.#clock.now();
    const { accepted, rejected } = normaliseBatch(frame.inputs, nowMs);
    const readings: Reading[] = [];
    let seq = this.#seq.get(source.deviceId) ?? 0;
    for (const n of accepted) {
      seq += 1;
      readings.push({
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
        seq,
        flags: n.flags,
        mdc: n.mdc,
      });
    }
    this.#seq.set(source.deviceId, seq);
    const refusals: InputRejection[] = [
      ...(frame.rejected ?? []),
      ...rejected.map((r) => ({ reason: r.reason, detail: r.detail })),
    ];

    // rules first: alerts never wait for the disk
    for (const r of readings) this.#emit((l) => l.onReading?.(r));
    if (frame.status) this.#emit((l) => l.onDeviceStatus?.(source, frame.status!, nowMs));
    for (const r of refusals) this.#emit((l) => l.onRejected?.(source, r.reason, nowMs));

    if (readings.length > 0) this.#accepted({ device: source.deviceId }, readings.length);
    const rejections = refusals.map((r) => this.#rejection(source.deviceId, r, nowMs, raw));
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
    this.#emit((l) => l.onRejected?.(source, refusal.reason, nowMs));
    this.#committer.submit({
      payload: { readings: [], rejections: [this.#rejection(source.deviceId, refusal, nowMs, raw)] },
      weight: 1,
      done,
    });
  }

  #rejection(
    deviceId: string | null,
    r: InputRejection,
    nowMs: number,
    raw: Uint8Array | null,
  ): RejectionRecord {
    this.#rejected({ device: deviceId ?? "(unknown)", reason: r.reason });
    this.#log.warn({ deviceId, reason: r.reason, detail: r.detail }, "input rejected");
    return {
      deviceId,
      receivedAtMs: nowMs,
      reason: r.reason,
      detail: r.detail,
      payload: raw ? raw.subarray(0, MAX_KEPT_PAYLOAD_BYTES) : null,
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
