/**
 * The gateway's `DriverSink`: the one path by which every driver (BLE, serial, MQTT) hands frames to ingest. A
 * transport address (BLE MAC, serial path) maps to the provisioned device configured for it (MQTT: the
 * authenticated device id is the key), and the device's subject binding is read from the registry for every
 * frame, so a rebinding takes effect at once and a removed device is refused. Decode failures go through
 * `Ingest.reject`: counted per device and reason, stored. A part of a frame refused with a reason a decoder may
 * not give is stored and counted as `decoder_bug` (rejection-reasons.ts; `safeDecode` does the same for a
 * whole frame's DecodeError).
 */
import { GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { RejectReason } from "../reading.js";
import type { Admission } from "./admission.js";
import type { DeviceRegistry } from "./device-registry.js";
import type { Ingest, InputRejection, Source } from "./ingest.js";
import { decoderReasonProblem, type RejectionReason } from "./rejection-reasons.js";
import type { DecodeResult, DriverSink } from "./sdk.js";

/** Absent values that are a validation refusal (counted as rejections); the rest are the device's "no value". */
const VALIDATION_REASONS: ReadonlySet<string> = new Set<RejectReason>([
  "unknown_vital",
  "unit_unsupported",
  "value_not_finite",
  "below_physiologic_limit",
  "above_physiologic_limit",
]);

/** Where a device is told why its input was refused (the MQTT `rejected` topic); MUST NOT throw. */
export type RefusalListener = (deviceKey: string, refusals: readonly InputRejection[]) => void;

export class IngestSink implements DriverSink {
  readonly #transport: Source["transport"];
  readonly #deviceIds: { get(deviceKey: string): string | undefined };
  readonly #isAuthenticatedKey: boolean;
  readonly #onRefused: RefusalListener | undefined;
  readonly #sourceInHand: ((deviceKey: string) => Source | undefined) | undefined;
  readonly #registry: DeviceRegistry;
  readonly #ingest: Ingest;
  readonly #admission: Admission | undefined;
  readonly #log: Logger;
  readonly #events;

  /** `deviceIds`: transport address → provisioned device id (from the config slice). */
  constructor(deps: {
    transport: Source["transport"];
    deviceIds: { get(deviceKey: string): string | undefined };
    /**
     * The key is a device id the transport authenticated (MQTT): a frame of a device no longer in the registry
     * is refused `binding_changed` under its id (its session outlived its registration), not
     * `device_not_provisioned` under none.
     */
    isAuthenticatedKey?: boolean;
    /** Told every refusal of a frame, after ingest has it (the MQTT driver publishes it on `rejected`). */
    onRefused?: RefusalListener;
    /**
     * The source of the frame being delivered, when the transport already holds it for the current sink call:
     * the MQTT driver, which authenticated the session and checked its binding against the registry for this
     * very frame, hands it over instead of a second registry read per frame. Undefined: read the registry.
     */
    sourceInHand?: (deviceKey: string) => Source | undefined;
    registry: DeviceRegistry;
    ingest: Ingest;
    /** Per-device budgets (ingest.limits); absent: unlimited. */
    admission?: Admission;
    log: Logger;
    metrics: Metrics;
  }) {
    this.#admission = deps.admission;
    this.#transport = deps.transport;
    this.#isAuthenticatedKey = deps.isAuthenticatedKey === true;
    this.#onRefused = deps.onRefused;
    this.#sourceInHand = deps.sourceInHand;
    this.#deviceIds = deps.deviceIds;
    this.#registry = deps.registry;
    this.#ingest = deps.ingest;
    this.#log = deps.log;
    this.#events = deps.metrics.counter(
      "vitalog_driver_connection_events_total",
      "Device connection life-cycle events, per transport, state and reason",
    );
  }

  /** Whether the address is configured AND its device is provisioned (has a subject binding). */
  isAuthorised(deviceKey: string): boolean {
    const id = this.#deviceIds.get(deviceKey);
    return id !== undefined && this.#registry.get(id) !== undefined;
  }

  /** The provisioned device behind an address, if any. */
  deviceIdOf(deviceKey: string): string | undefined {
    return this.#deviceIds.get(deviceKey);
  }

  frame(e: Parameters<DriverSink["frame"]>[0]): void {
    const done = e.done ?? noop;
    const source = this.#source(e.deviceKey);
    if (!source) {
      this.#refuseUnprovisioned(e.deviceKey, e.raw ?? null, done);
      return;
    }
    // Over its budget, a frame is neither stored nor acknowledged: a serial device gets no ack and sends it
    // again, a BLE stored record is not marked fetched (asked for again at the next connection). A live BLE
    // notification cannot be held back by the gateway: it is dropped and counted.
    const admitted = this.#admission?.take(source.deviceId, this.#modelOf(source), e.result.readings.length);
    if (admitted && !admitted.ok) {
      this.#ingest.countNotAdmitted(source, admitted.reason);
      done(
        new GatewayError(
          "INGEST_THROTTLED",
          `device ${source.deviceId} is over its ${admitted.reason} budget`,
        ),
      );
      return;
    }
    const rejected = this.#rejectedOf(e.result, e.binding, source);
    const outcome = this.#ingest.submit(
      source,
      { inputs: e.result.readings, status: frameStatus(e.result), rejected },
      e.raw ?? null,
      done,
    );
    if (outcome.rejected.length > 0) this.#onRefused?.(e.deviceKey, outcome.rejected);
  }

  reject(e: Parameters<DriverSink["reject"]>[0]): void {
    const done = e.done ?? noop;
    const source = this.#source(e.deviceKey);
    if (!source) {
      this.#refuseUnprovisioned(e.deviceKey, e.raw ?? null, done);
      return;
    }
    // a frame that does not decode costs a message of the device's budget like any other: a device sending
    // garbage as fast as its link allows is throttled, not recorded frame by frame
    const admitted = this.#admission?.take(source.deviceId, this.#modelOf(source), 0);
    if (admitted && !admitted.ok) {
      this.#ingest.countNotAdmitted(source, admitted.reason);
      done(
        new GatewayError(
          "INGEST_THROTTLED",
          `device ${source.deviceId} is over its ${admitted.reason} budget`,
        ),
      );
      return;
    }
    const refusal = { reason: e.reason, detail: `${e.binding}: ${e.detail}` };
    this.#ingest.reject(source, refusal, e.raw ?? null, done);
    this.#onRefused?.(e.deviceKey, [refusal]);
  }

  connection(e: Parameters<DriverSink["connection"]>[0]): void {
    const reason = e.reason ?? "";
    this.#events({ transport: this.#transport, state: e.state, reason });
    const deviceId = this.#deviceIds.get(e.deviceKey) ?? null;
    this.#log.info(
      {
        transport: this.#transport,
        address: e.deviceKey,
        deviceId,
        state: e.state,
        reason,
        retryInMs: e.retryInMs,
      },
      "device connection",
    );
    // an unknown or unprovisioned device is refused durably: an injection attempt leaves a trace
    if (e.state === "refused" && reason === "device_not_provisioned")
      this.#refuseUnprovisioned(e.deviceKey, null, noop);
  }

  /**
   * The frame's refusals (`rejectedOf`). A part whose reason a decoder may not give (rejection-reasons.ts
   * `decoderReasonProblem`) is a decoder bug: stored and counted as `decoder_bug`, its detail naming the reason
   * given, and logged at error once per frame, like a decoder that throws.
   */
  #rejectedOf(result: DecodeResult, binding: string, source: Source): InputRejection[] {
    let isLogged = false;
    return rejectedOf(result, binding, (bug) => {
      if (isLogged) return;
      isLogged = true;
      this.#log.error({ deviceId: source.deviceId, binding, detail: bug.detail }, "decoder bug");
    });
  }

  #modelOf(source: Source): string | null {
    return this.#registry.get(source.deviceId)?.model ?? null;
  }

  #source(deviceKey: string): Source | undefined {
    const inHand = this.#sourceInHand?.(deviceKey);
    if (inHand) return inHand;
    const id = this.#deviceIds.get(deviceKey);
    const device = id === undefined ? undefined : this.#registry.get(id);
    return device && { deviceId: device.id, subjectId: device.subjectId, transport: this.#transport };
  }

  #refuseUnprovisioned(deviceKey: string, raw: Uint8Array | null, done: (err?: Error) => void): void {
    if (this.#isAuthenticatedKey) {
      const detail = `${this.#transport} ${deviceKey} is no longer in the registry`;
      this.#ingest.reject(
        { deviceId: deviceKey, subjectId: null },
        { reason: "binding_changed", detail },
        raw,
        done,
      );
      return;
    }
    const configured = this.#deviceIds.get(deviceKey);
    const detail = `${this.#transport} ${deviceKey}${configured ? ` (configured as ${configured}, not in the registry)` : " (not configured)"}`;
    this.#ingest.reject(
      { deviceId: null, subjectId: null },
      { reason: "device_not_provisioned", detail },
      raw,
      done,
    );
  }
}

/** The frame's refusals: what the decoder refused (`rejected`), then its absent values that fail validation. */
function rejectedOf(
  result: DecodeResult,
  binding: string,
  onBug: (bug: InputRejection) => void,
): InputRejection[] {
  const refusals: InputRejection[] = [];
  for (const r of result.rejected ?? []) {
    const problem = decoderReasonProblem(r.reason);
    if (problem === undefined) {
      refusals.push(r);
      continue;
    }
    const bug = { reason: "decoder_bug" satisfies RejectionReason, detail: `${problem}: ${r.detail}` };
    refusals.push(bug);
    onBug(bug);
  }
  for (const a of result.absent)
    if (VALIDATION_REASONS.has(a.reason))
      refusals.push({ reason: a.reason, detail: `${binding}: ${a.kind} ${a.reason}` });
  return refusals;
}

/**
 * Absent values that say the device had no usable value (IEEE 11073 NaN/NRes/±INF, measurement unavailable …),
 * not a refusal and not a deliberate non-patient sample: a control-solution test is routine quality control.
 */
const NOT_NO_VALUE: ReadonlySet<string> = new Set([...VALIDATION_REASONS, "control_solution"]);

/**
 * The frame's device status, with the values the device sent without a usable value (`absentValues`): without
 * them a device sending only NaN frames would be heard by no rule [clinical.md §5.2 "Signal-quality gating":
 * SFLOAT NaN/NRes raise a technical alarm, never a silent gap].
 */
export function frameStatus(result: DecodeResult): DecodeResult["status"] {
  const absentValues = result.absent
    .filter((a) => !NOT_NO_VALUE.has(a.reason))
    .map((a) => ({ kind: a.kind, reason: a.reason }));
  if (absentValues.length === 0) return result.status;
  return { ...result.status, absentValues };
}

function noop(): void {}
