/**
 * One allow-listed BLE peripheral: connect, resolve services, subscribe to the definition's notify/indicate
 * characteristics, decode each value, and on link loss tear down and wait out a backoff before the next
 * attempt (which the driver's scan loop starts once the device is present again).
 */
import type NodeBle from "node-ble";
import type { Clock } from "../../clock.js";
import { Backoff, type BackoffOptions } from "../backoff.js";
import {
  type CharacteristicBinding,
  type ConnectionState,
  type DeviceDefinition,
  type DriverContext,
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
    };
  }

  health(): BleDeviceHealth {
    return { ...this.#h, subscribed: [...this.#h.subscribed] };
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
      // [BlueZ] indications are confirmed by bluetoothd itself: the gateway cannot defer that ATT confirmation
      this.#ctx.sink.frame({
        deviceKey: this.address,
        binding: b.name,
        receivedAtMs,
        result: outcome.result,
        raw: bytes,
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
  b: CharacteristicBinding,
): Promise<NodeBle.GattCharacteristic | null> {
  try {
    const service = await gatt.getPrimaryService(b.service);
    return await service.getCharacteristic(b.characteristic);
  } catch {
    return null;
  }
}

function label(d: DeviceDefinition): string {
  return `${d.vendor}/${d.model}`;
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
