/**
 * One allow-listed BLE peripheral: connect, resolve services, subscribe to the definition's notify/indicate
 * characteristics, decode each value, and on link loss tear down and wait out a backoff before the next
 * attempt (which the driver's scan loop starts once the device is present again). A definition with a
 * Record Access Control Point (`recordAccess`) also gets the device's stored records fetched on every
 * connection [clinical.md §1.7.1]: all of them the first time, afterwards those above the highest sequence
 * number already delivered (kept per device, in memory, for the life of the gateway process).
 */
import type NodeBle from "node-ble";
import type { Clock } from "../../clock.js";
import { Backoff, type BackoffOptions } from "../backoff.js";
import { DecodeError } from "../profiles/decode-error.js";
import {
  decodeRacpResponse,
  RACP_OP_CODES,
  type RacpResponse,
  racpReportAll,
  racpReportFrom,
} from "../profiles/gatt-record-access-control-point.js";
import { toHex } from "../profiles/hex.js";
import {
  type CharacteristicBinding,
  type ConnectionState,
  type DecodeResult,
  type DeviceDefinition,
  type DriverContext,
  type RecordAccessBinding,
  safeDecode,
} from "../sdk.js";
import { advertisedUuids, releaseListeners, servicesResolved } from "./node-ble-access.js";

/** An allow-listed device as the driver sees it; `definition` absent = chosen by advertised services. */
export interface BleDeviceSpec {
  address: string;
  definition?: DeviceDefinition | undefined;
  pairedOnly: boolean;
}

export type BleSessionState = ConnectionState | "searching";

/** Health of one device, for `vitalog status`. */
export interface BleDeviceHealth {
  address: string;
  state: BleSessionState;
  definition: string | null;
  subscribed: string[];
  connectedAtMs: number | null;
  lastFrameAtMs: number | null;
  frames: number;
  rejected: number;
  reconnects: number;
  lastError: string | null;
  /** Stored-record fetches through the RACP; null when the definition has no `recordAccess`. */
  records: RecordFetchHealth | null;
}

/** Stored-record fetches of one device (RACP "report stored records") [clinical.md §1.7.1]. */
export interface RecordFetchHealth {
  /** Requests written (one per connection of a device that offers the RACP). */
  fetches: number;
  /** Record notifications received while a fetch was running. */
  received: number;
  /** The last request as hex, e.g. "01 01" (all) or "01 03 01 06 00" (sequence number ≥ 6). */
  lastRequest: string | null;
  /**
   * How the last fetch ended: an RACP response name (success, no_records_found, procedure_not_completed …),
   * "timeout", "failed" (subscription or write) or "interrupted" (link lost).
   */
  lastResult: string | null;
  /** Fetches that ended in an RACP error response, a timeout or a failed write (also sink rejections). */
  errors: number;
  /** Highest record sequence number delivered and committed; the next fetch asks for the ones above it. */
  highestSequenceNumber: number | null;
}

/** A fetch in progress: ends on the RACP response indication, or after `connectTimeoutMs` of silence. */
interface RecordFetch {
  gen: number;
  ra: RecordAccessBinding;
  request: string;
  timer: unknown;
}

/** The most specific BLE definition the device offers: all its service UUIDs advertised, name prefix matching. */
export function matchDefinition(
  definitions: readonly DeviceDefinition[],
  uuids: readonly string[],
  name: string,
): DeviceDefinition | undefined {
  const score = (d: DeviceDefinition) =>
    d.match.transport === "ble" ? (d.match.serviceUuids?.length ?? 0) + (d.match.namePrefix ? 10 : 0) : -1;
  const fits = definitions.filter((d) => {
    if (d.match.transport !== "ble") return false;
    const m = d.match;
    if (m.namePrefix && !name.startsWith(m.namePrefix)) return false;
    return (m.serviceUuids ?? []).every((u) => uuids.includes(u.toLowerCase()));
  });
  // stable: at equal specificity the earlier definition (vendor packages come before built-ins) wins
  return fits.reduce<DeviceDefinition | undefined>(
    (best, d) => (!best || score(d) > score(best) ? d : best),
    undefined,
  );
}

export class BleSession {
  readonly address: string;
  readonly #ctx: DriverContext;
  readonly #spec: BleDeviceSpec;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #connectTimeoutMs: number;
  #gen = 0;
  #readyAtMs = 0;
  #device: NodeBle.Device | null = null;
  #chars: NodeBle.GattCharacteristic[] = [];
  #lastRefusal: string | null = null;
  #fetch: RecordFetch | null = null;
  /** The definition of the current connection. */
  #definition: DeviceDefinition | null = null;
  /** Highest stored-record sequence number delivered (committed) for this device; null = none yet. */
  #highestSeq: number | null = null;
  readonly #h: BleDeviceHealth;

  constructor(ctx: DriverContext, spec: BleDeviceSpec, backoff: BackoffOptions, connectTimeoutMs: number) {
    this.address = spec.address;
    this.#ctx = ctx;
    this.#spec = spec;
    this.#clock = ctx.clock;
    this.#backoff = new Backoff(backoff);
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#h = {
      address: spec.address,
      state: "searching",
      definition: spec.definition ? label(spec.definition) : null,
      subscribed: [],
      connectedAtMs: null,
      lastFrameAtMs: null,
      frames: 0,
      rejected: 0,
      reconnects: 0,
      lastError: null,
      records: spec.definition?.recordAccess ? newRecordHealth() : null,
    };
  }

  health(): BleDeviceHealth {
    return {
      ...this.#h,
      subscribed: [...this.#h.subscribed],
      records: this.#h.records && { ...this.#h.records },
    };
  }

  /** Whether the scan loop may start an attempt now. */
  isReady(): boolean {
    const s = this.#h.state;
    return (
      (s === "searching" || s === "disconnected" || s === "backoff" || s === "refused") &&
      this.#clock.now() >= this.#readyAtMs
    );
  }

  /** One connection attempt; never throws (failures are reported and backed off). */
  async connect(adapter: NodeBle.Adapter): Promise<void> {
    const gen = ++this.#gen;
    // a refused device is re-checked now and then (it may have been provisioned since); it stays
    // "refused" in its health state until it is actually accepted
    const wasRefused = this.#h.state === "refused";
    if (!wasRefused) this.#report("connecting");
    let device: NodeBle.Device | null = null;
    try {
      device = await adapter.getDevice(this.address);
      if (this.#spec.pairedOnly && !(await device.isPaired())) return this.#refuse(gen, "device_not_paired");
      const definition =
        this.#spec.definition ??
        matchDefinition(
          this.#ctx.definitions,
          await advertisedUuids(device),
          await device.getName().catch(() => ""),
        );
      if (!definition) return this.#refuse(gen, "no_matching_definition");
      this.#h.definition = label(definition);
      this.#definition = definition;
      if (!this.#ctx.isAuthorised(this.address, definition))
        return this.#refuse(gen, "device_not_provisioned");
      this.#lastRefusal = null;
      if (wasRefused) this.#report("connecting");
      this.#device = device;
      device.on("disconnect", () => this.#linkLost(gen, "link_lost"));
      await this.#timed(device.connect(), "connect");
      await this.#timed(this.#waitResolved(device, gen), "services");
      const gatt = await this.#timed(device.gatt(), "gatt");
      const subscribed: string[] = [];
      for (const b of definition.notify ?? []) {
        if (gen !== this.#gen) return;
        const char = await characteristic(gatt, b);
        if (!char) continue; // e.g. [clinical.md §1.6] C1: a PLX device offers at least one of the two
        char.on("valuechanged", (value: Buffer) => this.#onValue(gen, b, value));
        this.#chars.push(char);
        await this.#timed(char.startNotifications(), `subscribe ${b.name}`);
        subscribed.push(b.name);
      }
      if (gen !== this.#gen) return;
      if (subscribed.length === 0) throw new Error("device offers none of the definition's characteristics");
      this.#backoff.reset();
      this.#h.subscribed = subscribed;
      this.#h.connectedAtMs = this.#clock.now();
      this.#h.lastError = null;
      this.#report("connected");
      this.#ctx.log.info({ address: this.address, subscribed }, "ble device connected");
      // on its own: a failing fetch never costs the connection its live notifications
      if (definition.recordAccess) void this.#fetchStoredRecords(gen, gatt, definition.recordAccess);
    } catch (err) {
      if (gen !== this.#gen) return;
      this.#h.lastError = (err as Error).message;
      this.#ctx.log.warn({ address: this.address, err: this.#h.lastError }, "ble connection attempt failed");
      this.#teardown(true);
      this.#backOff("connect_failed");
    }
  }

  /** Adapter powered off or gone: drop the link now, reconnect as soon as it returns (no backoff). */
  adapterLost(reason: string): void {
    this.#gen++;
    this.#teardown(false);
    this.#readyAtMs = 0;
    this.#backoff.reset();
    if (this.#h.state !== "searching") this.#report("disconnected", { reason });
    this.#h.state = "searching";
  }

  async stop(): Promise<void> {
    this.#gen++;
    const device = this.#device;
    this.#teardown(false);
    if (device) await Promise.race([device.disconnect().catch(() => {}), sleep(this.#clock, 1000)]);
    this.#h.state = "disconnected";
  }

  #onValue(gen: number, b: CharacteristicBinding, value: Buffer): void {
    if (gen !== this.#gen) return;
    const receivedAtMs = this.#clock.now();
    const bytes = new Uint8Array(value);
    const outcome = safeDecode(b.decode, bytes, { nowMs: receivedAtMs });
    if (outcome.ok) {
      this.#h.frames++;
      this.#h.lastFrameAtMs = receivedAtMs;
      const seq = this.#recordSequence(b, outcome.result);
      // [BlueZ] indications are confirmed by bluetoothd itself: the gateway cannot defer that ATT confirmation
      this.#ctx.sink.frame({
        deviceKey: this.address,
        binding: b.name,
        receivedAtMs,
        result: outcome.result,
        raw: bytes,
        // a record counts as fetched only once it is durable: a failed commit is asked for again next time
        ...(seq === undefined ? {} : { done: (err?: Error) => (err ? undefined : this.#delivered(seq)) }),
      });
    } else {
      this.#h.rejected++;
      if (outcome.isBug)
        this.#ctx.log.error(
          { address: this.address, binding: b.name, detail: outcome.detail },
          "decoder bug",
        );
      this.#ctx.sink.reject({
        deviceKey: this.address,
        binding: b.name,
        receivedAtMs,
        reason: outcome.reason,
        detail: outcome.detail,
        raw: bytes,
      });
    }
  }

  /** The definition's record binding: the record's sequence number (the running fetch is kept alive). */
  #recordSequence(b: CharacteristicBinding, result: DecodeResult): number | undefined {
    const ra = this.#definition?.recordAccess;
    if (!ra || ra.records !== b.name) return undefined;
    if (this.#fetch) {
      this.#h.records!.received++;
      this.#armFetchTimer(this.#fetch);
    }
    try {
      const n = ra.sequenceNumber(result);
      return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffff ? n : undefined;
    } catch (err) {
      this.#ctx.log.error({ address: this.address, binding: b.name, err: String(err) }, "decoder bug");
      return undefined;
    }
  }

  #delivered(seq: number): void {
    if (this.#highestSeq === null || seq > this.#highestSeq) this.#highestSeq = seq;
    if (this.#h.records) this.#h.records.highestSequenceNumber = this.#highestSeq;
  }

  /**
   * Subscribes to the RACP and writes "report stored records" [clinical.md §1.7.1]: all of them when nothing has
   * been delivered yet (or the last sequence number was 0xFFFF), else `01 03 01 <N+1>`. Never throws.
   */
  async #fetchStoredRecords(gen: number, gatt: NodeBle.GattServer, ra: RecordAccessBinding): Promise<void> {
    this.#h.records ??= newRecordHealth();
    let fetch: RecordFetch | null = null;
    try {
      const char = await characteristic(gatt, ra);
      if (gen !== this.#gen) return;
      if (!char) {
        this.#ctx.log.info({ address: this.address, binding: ra.name }, "ble device offers no RACP");
        return;
      }
      char.on("valuechanged", (value: Buffer) => this.#onRacp(gen, ra, value));
      this.#chars.push(char);
      await this.#timed(char.startNotifications(), `subscribe ${ra.name}`);
      if (gen !== this.#gen) return;
      const from = this.#highestSeq;
      const request = from === null || from >= 0xffff ? racpReportAll() : racpReportFrom(from + 1);
      fetch = { gen, ra, request: toHex(request), timer: null };
      // before the write: the records and the response may arrive before WriteValue returns
      this.#fetch = fetch;
      this.#armFetchTimer(fetch);
      this.#h.records.fetches++;
      this.#h.records.lastRequest = fetch.request;
      this.#ctx.log.info(
        { address: this.address, binding: ra.name, request: fetch.request },
        "ble stored records requested",
      );
      await this.#timed(char.writeValue(Buffer.from(request), { type: "request" }), `write ${ra.name}`);
    } catch (err) {
      // a response that already ended this fetch wins over a late write error
      if (gen !== this.#gen || (fetch !== null && this.#fetch !== fetch)) return;
      this.#endFetch(gen, "failed", "racp_request_failed", `${ra.name}: ${(err as Error).message}`);
    }
  }

  #onRacp(gen: number, ra: RecordAccessBinding, value: Buffer): void {
    if (gen !== this.#gen) return;
    const bytes = new Uint8Array(value);
    let response: RacpResponse;
    try {
      response = decodeRacpResponse(bytes);
    } catch (err) {
      const isBug = !(err instanceof DecodeError);
      const reason = err instanceof DecodeError ? err.reason : "decoder_bug";
      const detail = err instanceof Error ? err.message : String(err);
      if (isBug) this.#ctx.log.error({ address: this.address, binding: ra.name, detail }, "decoder bug");
      this.#ctx.sink.reject({
        deviceKey: this.address,
        binding: ra.name,
        receivedAtMs: this.#clock.now(),
        reason,
        detail,
        raw: bytes,
      });
      return;
    }
    const fetch = this.#fetch;
    if (
      response.type !== "response_code" ||
      response.requestOpCode !== RACP_OP_CODES.report_stored_records ||
      !fetch ||
      fetch.gen !== gen
    ) {
      this.#ctx.log.warn(
        { address: this.address, binding: ra.name, value: toHex(bytes) },
        "ble unsolicited RACP indication ignored",
      );
      return;
    }
    const { response: name, responseCode } = response;
    if (name === "success" || name === "no_records_found") {
      this.#endFetch(gen, name);
      return;
    }
    this.#endFetch(
      gen,
      name,
      `racp_${name}`,
      `report stored records (${fetch.request}): response code 0x${responseCode.toString(16).padStart(2, "0")}`,
      bytes,
    );
  }

  /** Ends the running fetch of `gen`; with `reason` it failed: logged, counted and refused through the sink. */
  #endFetch(gen: number, result: string, reason?: string, detail?: string, raw?: Uint8Array): void {
    const fetch = this.#fetch;
    if (fetch && fetch.gen === gen) {
      if (fetch.timer !== null) this.#clock.clearTimeout(fetch.timer);
      this.#fetch = null;
    }
    const h = this.#h.records;
    if (h) h.lastResult = result;
    const fields = {
      address: this.address,
      binding: fetch?.ra.name,
      request: fetch?.request,
      result,
      received: h?.received,
    };
    if (reason === undefined) {
      this.#ctx.log.info(fields, "ble stored records fetched");
      return;
    }
    if (h) h.errors++;
    this.#ctx.log.warn({ ...fields, detail }, "ble stored records fetch failed");
    this.#ctx.sink.reject({
      deviceKey: this.address,
      binding: fetch?.ra.name ?? "record_access_control_point",
      receivedAtMs: this.#clock.now(),
      reason,
      detail: detail ?? reason,
      raw,
    });
  }

  /** (Re)starts the fetch's silence timer: each record received extends it. */
  #armFetchTimer(fetch: RecordFetch): void {
    if (fetch.timer !== null) this.#clock.clearTimeout(fetch.timer);
    fetch.timer = this.#clock.setTimeout(() => {
      fetch.timer = null;
      if (this.#fetch !== fetch || fetch.gen !== this.#gen) return;
      this.#endFetch(
        fetch.gen,
        "timeout",
        "racp_timeout",
        `report stored records (${fetch.request}): no RACP response within ${this.#connectTimeoutMs} ms`,
      );
    }, this.#connectTimeoutMs);
  }

  #linkLost(gen: number, reason: string): void {
    if (gen !== this.#gen) return;
    this.#gen++;
    this.#h.reconnects++;
    this.#teardown(false);
    this.#ctx.log.warn({ address: this.address, reason }, "ble link lost");
    this.#report("disconnected", { reason });
    this.#backOff(reason);
  }

  #refuse(gen: number, reason: string): void {
    if (gen !== this.#gen) return;
    if (this.#lastRefusal !== reason) this.#report("refused", { reason });
    this.#lastRefusal = reason;
    this.#h.state = "refused";
    this.#h.lastError = reason;
    this.#readyAtMs = this.#clock.now() + this.#backoff.next();
  }

  #backOff(reason: string): void {
    const delay = this.#backoff.next();
    this.#readyAtMs = this.#clock.now() + delay;
    this.#report("backoff", { retryInMs: delay, reason });
  }

  #teardown(disconnect: boolean): void {
    if (this.#fetch) {
      // an interrupted fetch is simply asked for again (from the same point) on the next connection
      if (this.#fetch.timer !== null) this.#clock.clearTimeout(this.#fetch.timer);
      this.#fetch = null;
      if (this.#h.records) this.#h.records.lastResult = "interrupted";
    }
    for (const c of this.#chars) {
      c.removeAllListeners("valuechanged");
      releaseListeners(c);
    }
    this.#chars = [];
    const device = this.#device;
    this.#device = null;
    this.#h.subscribed = [];
    this.#h.connectedAtMs = null;
    if (!device) return;
    device.removeAllListeners("disconnect");
    device.removeAllListeners("connect");
    if (disconnect) device.disconnect().catch(() => releaseListeners(device));
    else releaseListeners(device);
  }

  #report(state: BleSessionState, extra: { retryInMs?: number; reason?: string } = {}): void {
    this.#h.state = state;
    if (state === "searching") return;
    this.#ctx.sink.connection({ deviceKey: this.address, state, atMs: this.#clock.now(), ...extra });
  }

  /** Polls ServicesResolved before gatt(): node-ble's own wait is "Get, then subscribe" and can miss the flip. */
  async #waitResolved(device: NodeBle.Device, gen: number): Promise<void> {
    while (gen === this.#gen && !(await servicesResolved(device))) await sleep(this.#clock, 25);
  }

  #timed<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.#clock.setTimeout(() => reject(new Error(`${what} timed out`)), this.#connectTimeoutMs);
      p.then(
        (v) => {
          this.#clock.clearTimeout(t);
          resolve(v);
        },
        (e) => {
          this.#clock.clearTimeout(t);
          reject(e);
        },
      );
    });
  }
}

async function characteristic(
  gatt: NodeBle.GattServer,
  b: { service: string; characteristic: string },
): Promise<NodeBle.GattCharacteristic | null> {
  try {
    const service = await gatt.getPrimaryService(b.service);
    return await service.getCharacteristic(b.characteristic);
  } catch {
    return null;
  }
}

function newRecordHealth(): RecordFetchHealth {
  return {
    fetches: 0,
    received: 0,
    lastRequest: null,
    lastResult: null,
    errors: 0,
    highestSequenceNumber: null,
  };
}

function label(d: DeviceDefinition): string {
  return `${d.vendor}/${d.model}`;
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
