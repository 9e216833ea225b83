/**
 * Vitalog vendor driver SDK — the public, semver-versioned surface a vendor package builds against.
 *
 * A device is DATA: a `DeviceDefinition` (match rule + characteristic → pure decoder bindings) built with
 * `defineDevice()` from small factories (`heartRateMeasurement()`, `plxContinuous()`, …) or a vendor's own
 * decoder. A `Driver` (stateful, owns connections) is needed only for a NEW transport.
 *
 * Versioning: `SDK_VERSION` follows semver. Within a major version only additions are made: no exported name,
 * field, wire string (reason, condition, kind) or behaviour a definition relies on is removed or renamed.
 * A definition declares the range it was built for in `sdkVersion` (caret, e.g. "^1.0.0"); the gateway refuses
 * (and lists) definitions whose range does not contain `SDK_VERSION`. Two separate checks, each with its own
 * problem text: our range POLICY (`sdkRangePolicyProblem`: a caret range or an exact version, nothing wider)
 * and COMPATIBILITY (`isSdkCompatible`: npm's `semver` package decides whether the range contains the version,
 * prerelease rules included, so a vendor's `sdkVersion` means exactly what the same text means to npm).
 *
 * Vendors test their package with `registerConformanceTests` from ./sdk-conformance.js.
 */
import semver from "semver";
import type { Clock } from "../clock.js";
import type { DeviceStatusInput, ReadingInput } from "../reading.js";
import type {
  CharacteristicBinding,
  Decoder,
  RecordAccessBinding,
} from "./profiles/characteristic-binding.js";
import { DecodeError } from "./profiles/decode-error.js";
import type { DecodeContext, DecodeResult } from "./profiles/decode-result.js";
import { normaliseUuid } from "./profiles/gatt-uuids.js";
import { hex } from "./profiles/hex.js";
import { framingProblems, type SerialFraming } from "./profiles/serial-framing.js";
import { decoderReasonProblem } from "./rejection-reasons.js";

/**
 * The SDK's own version. Compare definitions against it with `isSdkCompatible`.
 * 1.1.0: optional `DeviceDefinition.recordAccess` (RACP stored-record fetch), DriverSink `raw`/`done`.
 * 1.2.0: MQTT payload definitions (`mqtt-definition.ts`), `DecodeResult.rejected`, the Driver conformance suite.
 */
export const SDK_VERSION = "1.2.0";

export { ByteReader, ByteWriter } from "./profiles/byte-reader.js";
export type {
  CharacteristicBinding,
  Decoder,
  RecordAccessBinding,
} from "./profiles/characteristic-binding.js";
export { DECODE_ERROR_REASONS, DecodeError } from "./profiles/decode-error.js";
export type {
  AbsentReason,
  AbsentValue,
  DecodeContext,
  DecodedReading,
  DecodeResult,
  DeviceCondition,
} from "./profiles/decode-result.js";
export { ResultBuilder } from "./profiles/decode-result.js";
export {
  bloodPressureMeasurement,
  cgmMeasurement,
  glucoseMeasurement,
  glucoseRecordAccess,
  heartRateMeasurement,
  plxContinuous,
  plxSpotCheck,
  temperatureMeasurement,
  weightMeasurement,
} from "./profiles/gatt-bindings.js";
export { normaliseUuid, uuid16 } from "./profiles/gatt-uuids.js";
export { hex, toHex } from "./profiles/hex.js";
export {
  decodeFloat,
  decodeSfloat,
  encodeFloat,
  encodeSfloat,
  type MderNumber,
  type MderSpecial,
} from "./profiles/ieee11073.js";
export {
  computeChecksum,
  FRAME_CHECKSUMS,
  type FrameChecksum,
  FrameSplitter,
  type SerialFraming,
  type SplitEvent,
} from "./profiles/serial-framing.js";
export type { DeviceStatusInput, ReadingInput };

/** BLE match rule: a device matches when it advertises ALL `serviceUuids` and its name starts with `namePrefix`. */
export interface BleMatch {
  transport: "ble";
  serviceUuids?: readonly string[] | undefined;
  namePrefix?: string | undefined;
}

/** Serial match rule: USB ids as 4-digit hex (as udev reports them), and/or a device path prefix. */
export interface SerialMatch {
  transport: "serial";
  usbVendorId?: string | undefined;
  usbProductId?: string | undefined;
  pathPrefix?: string | undefined;
}

/** How to talk to a serial device. */
export interface SerialProtocol {
  baudRate: number;
  framing: SerialFraming;
  /** Decodes one frame as cut by `framing` (delimiter/length header removed). */
  decode: Decoder;
  /** At least one frame (hex, without framing) that decodes to one or more readings. */
  examples: readonly string[];
  /**
   * Optional device-level acknowledgement: the octets to write back for `frame` (as cut by `framing`), or
   * undefined for none. The driver writes them only after the frame's readings (or its refusal) are durable,
   * never for a frame that failed its checksum. Pure, like `decode`.
   */
  ack?: ((frame: Uint8Array) => Uint8Array | undefined) | undefined;
}

/** A vendor device, as data. Build it with `defineDevice()`. */
export interface DeviceDefinition {
  vendor: string;
  model: string;
  description?: string | undefined;
  /** The SDK range the definition was written against, e.g. "^1.0.0". */
  sdkVersion: string;
  match: BleMatch | SerialMatch;
  /** BLE only: the notify/indicate characteristics to subscribe to. */
  notify?: readonly CharacteristicBinding[] | undefined;
  /** BLE only, optional: fetch stored records through this RACP on every connection (see RecordAccessBinding). */
  recordAccess?: RecordAccessBinding | undefined;
  /** Serial only. */
  serial?: SerialProtocol | undefined;
}

/** Thrown by `defineDevice` with EVERY problem found (a bad definition is a programming error: TypeError). */
export class DefinitionError extends TypeError {
  readonly problems: readonly string[];

  constructor(label: string, problems: readonly string[]) {
    super(`invalid device definition ${label}: ${problems.join("; ")}`);
    this.name = "DefinitionError";
    this.problems = problems;
  }
}

/**
 * Whether a definition's declared `sdkVersion` range contains `version` (default: this SDK), with npm's semver
 * semantics: `^1.2.3` is >=1.2.3 <2.0.0, `^0.2.3` is >=0.2.3 <0.3.0, and a prerelease version is contained only
 * by a range that names a prerelease of the same MAJOR.MINOR.PATCH (`^1.2.0-rc.1` contains 1.2.0-rc.2; `^1.0.0`
 * does not contain 1.2.0-rc.1). False for text that is no range at all. This is compatibility only: the
 * shapes a definition may use are `sdkRangePolicyProblem`'s business.
 */
export function isSdkCompatible(range: string, version: string = SDK_VERSION): boolean {
  return semver.satisfies(version, range);
}

const PARTIAL = /^(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*))?$/;

/**
 * Our range policy, separate from compatibility: `sdkVersion` MUST be a caret range (`^1.2.3`, `^1.2`, `^1`,
 * prerelease allowed: `^2.0.0-rc.1`) or an exact version (`1.2.3`, `2.0.0-rc.1`). Wider ranges (`>=1`, `*`,
 * `1.x`, `~1.2`, `||`, hyphen ranges) are refused: a definition must not claim to work with SDK majors that do
 * not exist yet, and a caret range is the one promise the SDK's versioning rule backs. Build metadata is refused
 * too (semver ignores it, so it would only mislead). Returns the problem text, or undefined when the text follows
 * the policy. Never throws.
 */
export function sdkRangePolicyProblem(range: unknown): string | undefined {
  const problem = `sdkVersion must be a caret range or exact version, e.g. "^1.0.0" (got ${JSON.stringify(range)})`;
  if (typeof range !== "string") return problem;
  const t = range.trim();
  const version = t.startsWith("^") ? t.slice(1) : t;
  const isFull = semver.valid(version) === version;
  const isPartialCaret = t.startsWith("^") && PARTIAL.test(version);
  return isFull || isPartialCaret ? undefined : problem;
}

const SNAKE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim().length > 0;

function exampleProblems(examples: unknown, where: string): string[] {
  if (!Array.isArray(examples) || examples.length === 0)
    return [`${where}.examples must list at least one frame`];
  const p: string[] = [];
  examples.forEach((e, i) => {
    try {
      if (typeof e !== "string" || hex(e).length === 0) throw new TypeError();
    } catch {
      p.push(`${where}.examples[${i}] must be non-empty hex`);
    }
  });
  return p;
}

function bindingProblems(b: CharacteristicBinding, where: string): string[] {
  const p: string[] = [];
  if (!nonEmpty(b.name) || !SNAKE.test(b.name)) p.push(`${where}.name must be snake_case`);
  if (!nonEmpty(b.service) || !normaliseUuid(b.service)) p.push(`${where}.service must be a UUID`);
  if (!nonEmpty(b.characteristic) || !normaliseUuid(b.characteristic))
    p.push(`${where}.characteristic must be a UUID`);
  if (b.property !== "notify" && b.property !== "indicate")
    p.push(`${where}.property must be notify or indicate`);
  if (typeof b.decode !== "function") p.push(`${where}.decode must be a function`);
  p.push(...exampleProblems(b.examples, where));
  return p;
}

function recordAccessProblems(ra: RecordAccessBinding, notify: readonly CharacteristicBinding[]): string[] {
  if (typeof ra !== "object" || ra === null) return ["recordAccess must be an object"];
  const p: string[] = [];
  if (!nonEmpty(ra.name) || !SNAKE.test(ra.name)) p.push("recordAccess.name must be snake_case");
  else if (notify.some((b) => b.name === ra.name))
    p.push("recordAccess.name must differ from the notify names");
  if (!nonEmpty(ra.service) || !normaliseUuid(ra.service)) p.push("recordAccess.service must be a UUID");
  if (!nonEmpty(ra.characteristic) || !normaliseUuid(ra.characteristic))
    p.push("recordAccess.characteristic must be a UUID");
  if (!notify.some((b) => b.name === ra.records))
    p.push("recordAccess.records must name one of the notify bindings");
  if (typeof ra.sequenceNumber !== "function") p.push("recordAccess.sequenceNumber must be a function");
  return p;
}

/** Every problem with a definition (empty when valid). Never throws. */
export function definitionProblems(def: unknown): string[] {
  if (typeof def !== "object" || def === null) return ["definition must be an object"];
  const d = def as Partial<DeviceDefinition>;
  const p: string[] = [];
  if (!nonEmpty(d.vendor)) p.push("vendor must be a non-empty string");
  if (!nonEmpty(d.model)) p.push("model must be a non-empty string");
  const policyProblem = sdkRangePolicyProblem(d.sdkVersion);
  if (policyProblem !== undefined) {
    p.push(policyProblem);
  } else if (!isSdkCompatible(d.sdkVersion!)) {
    p.push(`sdkVersion ${d.sdkVersion} does not include this SDK (${SDK_VERSION})`);
  }
  const m = d.match as
    | (Partial<Omit<BleMatch, "transport"> & Omit<SerialMatch, "transport">> & { transport?: unknown })
    | undefined;
  if (typeof m !== "object" || m === null) {
    p.push("match must be an object");
    return p;
  }
  if (m.transport === "ble") {
    const uuids = m.serviceUuids;
    if (
      uuids !== undefined &&
      (!Array.isArray(uuids) || uuids.some((u) => typeof u !== "string" || !normaliseUuid(u)))
    ) {
      p.push("match.serviceUuids must be UUIDs");
    }
    if (m.namePrefix !== undefined && !nonEmpty(m.namePrefix))
      p.push("match.namePrefix must be a non-empty string");
    if ((uuids === undefined || uuids.length === 0) && m.namePrefix === undefined) {
      p.push("match needs serviceUuids or namePrefix (a definition must not match every BLE device)");
    }
    if (!Array.isArray(d.notify) || d.notify.length === 0)
      p.push("notify must list at least one characteristic");
    else {
      d.notify.forEach((b, i) => {
        p.push(...bindingProblems(b, `notify[${i}]`));
      });
      const names = d.notify.map((b) => b.name);
      const dup = names.filter((n, i) => names.indexOf(n) !== i);
      if (dup.length > 0) p.push(`notify names must be unique: ${[...new Set(dup)].join(", ")}`);
    }
    if (d.recordAccess !== undefined)
      p.push(...recordAccessProblems(d.recordAccess, Array.isArray(d.notify) ? d.notify : []));
    if (d.serial !== undefined) p.push("serial is for serial devices; this one matches over ble");
  } else if (m.transport === "serial") {
    for (const key of ["usbVendorId", "usbProductId"] as const) {
      const v = m[key];
      if (v !== undefined && (typeof v !== "string" || !HEX4.test(v)))
        p.push(`match.${key} must be 4 hex digits`);
    }
    if (m.pathPrefix !== undefined && !nonEmpty(m.pathPrefix))
      p.push("match.pathPrefix must be a non-empty string");
    if (m.usbVendorId === undefined && m.pathPrefix === undefined)
      p.push("match needs usbVendorId or pathPrefix");
    const s = d.serial;
    if (typeof s !== "object" || s === null)
      p.push("serial must describe baudRate, framing, decode and examples");
    else {
      if (!Number.isInteger(s.baudRate) || s.baudRate <= 0)
        p.push("serial.baudRate must be a positive integer");
      if (typeof s.framing !== "object" || s.framing === null) p.push("serial.framing must be an object");
      else p.push(...framingProblems(s.framing, "serial.framing"));
      if (typeof s.decode !== "function") p.push("serial.decode must be a function");
      if (s.ack !== undefined && typeof s.ack !== "function") p.push("serial.ack must be a function");
      p.push(...exampleProblems(s.examples, "serial"));
    }
    if (d.notify !== undefined) p.push("notify is for ble devices; this one matches over serial");
    if (d.recordAccess !== undefined) p.push("recordAccess is for ble devices; this one matches over serial");
  } else {
    p.push('match.transport must be "ble" or "serial"');
  }
  return p;
}

/**
 * Validates a definition and returns it frozen, with UUIDs in canonical 128-bit lower-case form.
 * Throws `DefinitionError` listing every problem (including an incompatible `sdkVersion`).
 */
export function defineDevice<T extends DeviceDefinition>(def: T): Readonly<T> {
  const problems = definitionProblems(def);
  if (problems.length > 0) {
    const label = `${String((def as Partial<T>)?.vendor ?? "?")} ${String((def as Partial<T>)?.model ?? "?")}`;
    throw new DefinitionError(label, problems);
  }
  const match =
    def.match.transport === "ble" && def.match.serviceUuids
      ? Object.freeze({
          ...def.match,
          serviceUuids: Object.freeze(def.match.serviceUuids.map((u) => normaliseUuid(u)!)),
        })
      : Object.freeze({ ...def.match });
  const notify = def.notify?.map((b) =>
    Object.freeze({
      ...b,
      service: normaliseUuid(b.service)!,
      characteristic: normaliseUuid(b.characteristic)!,
      examples: Object.freeze([...b.examples]),
    }),
  );
  const recordAccess =
    def.recordAccess &&
    Object.freeze({
      ...def.recordAccess,
      service: normaliseUuid(def.recordAccess.service)!,
      characteristic: normaliseUuid(def.recordAccess.characteristic)!,
    });
  const serial =
    def.serial && Object.freeze({ ...def.serial, framing: Object.freeze({ ...def.serial.framing }) });
  return Object.freeze({
    ...def,
    match,
    ...(notify ? { notify: Object.freeze(notify) } : {}),
    ...(recordAccess ? { recordAccess } : {}),
    ...(serial ? { serial } : {}),
  });
}

/** Outcome of `safeDecode`: never an exception. */
export type SafeDecodeOutcome =
  | { ok: true; result: DecodeResult }
  | { ok: false; reason: string; detail: string; isBug: boolean };

/**
 * Runs a decoder so that nothing escapes: a DecodeError becomes its reason; any other exception is a decoder
 * bug, reported as reason "decoder_bug" with `isBug` set. So is a DecodeError whose reason a decoder may not
 * give (a catalogued reason of ingest, admission or the broker, rejection-reasons.ts `decoderReasonProblem`):
 * its detail names the reason given. Drivers call decoders only through this.
 */
export function safeDecode(decode: Decoder, bytes: Uint8Array, ctx: DecodeContext): SafeDecodeOutcome {
  try {
    return { ok: true, result: decode(bytes, ctx) };
  } catch (err) {
    if (err instanceof DecodeError) {
      const problem = decoderReasonProblem(err.reason);
      if (problem === undefined) return { ok: false, reason: err.reason, detail: err.message, isBug: false };
      return { ok: false, reason: "decoder_bug", detail: `${problem}: ${err.message}`, isBug: true };
    }
    return {
      ok: false,
      reason: "decoder_bug",
      detail: err instanceof Error ? err.message : String(err),
      isBug: true,
    };
  }
}

/** Minimal structured logger (pino-compatible): constant message, context in fields. */
export interface DriverLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** Connection states a driver reports per device. */
export type ConnectionState = "connecting" | "connected" | "disconnected" | "backoff" | "refused";

/**
 * Where a driver delivers what it receives. The gateway implements it (ingest); a driver only calls it.
 * Calls are synchronous and cheap; the sink never throws back into the driver.
 */
export interface DriverSink {
  /** A frame decoded. `deviceKey` is the transport address (BLE MAC, serial path), `binding` the binding name. */
  frame(event: {
    deviceKey: string;
    binding: string;
    receivedAtMs: number;
    result: DecodeResult;
    /** The frame as received, kept (truncated) with any refusal. */
    raw?: Uint8Array | undefined;
    /** Called once everything from the frame is durable (or failed to be): the moment to acknowledge. */
    done?: ((err?: Error) => void) | undefined;
  }): void;
  /** A frame rejected, with the DecodeError reason (or "decoder_bug"). The device stays up. */
  reject(event: {
    deviceKey: string;
    binding: string;
    receivedAtMs: number;
    reason: string;
    detail: string;
    raw?: Uint8Array | undefined;
    /** Called once the refusal is durable. */
    done?: ((err?: Error) => void) | undefined;
  }): void;
  /** Connection life-cycle, for technical alarms and metrics. `retryInMs` with "backoff". */
  connection(event: {
    deviceKey: string;
    state: ConnectionState;
    atMs: number;
    retryInMs?: number;
    reason?: string;
  }): void;
}

/** What a driver receives at construction (explicit wiring: no globals, no singletons). */
export interface DriverContext {
  clock: Clock;
  log: DriverLogger;
  /** Validated definitions for this transport (already passed `defineDevice`). */
  definitions: readonly DeviceDefinition[];
  sink: DriverSink;
  /** Decides whether a matched device may connect (binding/allow-list); refused devices are reported "refused". */
  isAuthorised(deviceKey: string, definition: DeviceDefinition): boolean;
}

/**
 * A transport driver (BLE, serial, MQTT are built in). Write one only for a NEW transport.
 *
 * Life-cycle
 * - `start()` MUST resolve once the driver is listening/scanning; it MUST reject only for a failure that makes the
 *   transport unusable at all (e.g. adapter missing). One unreachable device MUST NOT reject `start()`.
 * - `start()` MUST NOT be called twice without `stop()` in between; `stop()` MUST be idempotent.
 * - `stop()` MUST cancel every timer, close every connection and resolve only when done; after it resolves the
 *   driver MUST NOT call the sink again.
 *
 * Connections
 * - The driver OWNS reconnection: on loss it MUST retry with exponential backoff and jitter, capped (suggested
 *   1 s doubling to 60 s), scheduled through `ctx.clock` (never global timers), reporting "backoff" with
 *   `retryInMs`. Nobody else retries on its behalf.
 * - It MUST NOT connect to a device whose definition does not match, nor to one `isAuthorised` refuses
 *   (report "refused" once per device and back off).
 *
 * Data
 * - It MUST decode only through `safeDecode` and MUST NOT throw out of a transport data callback: a bad frame
 *   becomes `sink.reject(reason)`, counted per device and reason, and the device stays up.
 * - It MUST deliver frames of one device in arrival order, and MUST NOT drop or coalesce frames silently.
 * - Where the transport lets it choose when to acknowledge (MQTT QoS 1 PUBACK, a serial ACK byte), it MUST NOT
 *   acknowledge before the sink call returned (ingest commits first) — an acknowledged reading is never lost.
 * - It MUST NOT log measurement values above `debug`, nor patient identifiers at all.
 */
export interface Driver {
  /** Transport name, snake_case (e.g. "ble", "serial", "mqtt", "acme_usb_hid"). */
  readonly transport: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How a driver package exposes itself: a factory the composition root calls with explicit dependencies. */
export type DriverFactory = (ctx: DriverContext) => Driver;
