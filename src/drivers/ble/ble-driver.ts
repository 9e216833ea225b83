/**
 * The BLE transport on node-ble (BlueZ over D-Bus). A scan loop, on the injected clock, keeps the adapter
 * discovering, notices power loss (node-ble has no adapter events, so `Powered` is read every tick), and
 * starts a connection attempt for every allow-listed device that is present and not backing off. Devices that
 * are not allow-listed are never connected to; those that advertise a health service the gateway knows are
 * reported once as refused ("device_not_provisioned"), so an injection attempt is visible.
 */

import type NodeBle from "node-ble";
import nodeBle from "node-ble";
import type { BackoffOptions } from "../backoff.js";
import type { Driver, DriverContext } from "../sdk.js";
import { type BleDeviceHealth, type BleDeviceSpec, BleSession, matchDefinition } from "./ble-session.js";
import { advertisedUuids, guardBusErrors } from "./node-ble-access.js";

export interface BleDriverOptions {
  /** BlueZ adapter name (hci0 …); default: the first one. */
  adapter?: string | undefined;
  devices: readonly BleDeviceSpec[];
  scanIntervalMs: number;
  connectTimeoutMs: number;
  reconnect: BackoffOptions;
  /** node-ble's `createBluetooth` (reads DBUS_SYSTEM_BUS_ADDRESS when called); injectable for tests. */
  createBluetooth?: (() => { bluetooth: NodeBle.Bluetooth; destroy(): void }) | undefined;
}

export type AdapterState = "unavailable" | "powered_off" | "ready";

/** What `vitalog status` shows under `ble`. */
export interface BleHealth {
  adapter: { name: string | null; state: AdapterState; lastError: string | null };
  devices: BleDeviceHealth[];
  /** Peripherals seen advertising a known health service without being allow-listed. */
  refusedAddresses: string[];
}

export class BleDriver implements Driver {
  readonly transport = "ble";
  readonly #ctx: DriverContext;
  readonly #o: BleDriverOptions;
  readonly #sessions: Map<string, BleSession>;
  readonly #refused = new Set<string>();
  readonly #inspected = new Set<string>();
  #bt: { bluetooth: NodeBle.Bluetooth; destroy(): void } | null = null;
  #adapter: NodeBle.Adapter | null = null;
  #adapterName: string | null = null;
  #adapterState: AdapterState = "unavailable";
  #lastError: string | null = null;
  #timer: unknown = null;
  #running = false;
  #tickDone: Promise<void> = Promise.resolve();

  constructor(ctx: DriverContext, options: BleDriverOptions) {
    this.#ctx = ctx;
    this.#o = options;
    this.#sessions = new Map(
      options.devices.map((d) => [
        d.address,
        new BleSession(ctx, d, options.reconnect, options.connectTimeoutMs),
      ]),
    );
  }

  /** Starts the scan loop. Resolves after the first tick; an absent BlueZ is retried, it never fails the start. */
  async start(): Promise<void> {
    this.#running = true;
    this.#tickDone = this.#tick();
    await this.#tickDone;
    this.#ctx.log.info({ adapter: this.#adapterName, state: this.#adapterState }, "ble driver started");
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    if (this.#timer !== null) this.#ctx.clock.clearTimeout(this.#timer);
    await this.#tickDone;
    await Promise.all([...this.#sessions.values()].map((s) => s.stop()));
    if (this.#adapter) await this.#adapter.stopDiscovery().catch(() => {});
    this.#release();
  }

  health(): BleHealth {
    return {
      adapter: { name: this.#adapterName, state: this.#adapterState, lastError: this.#lastError },
      devices: [...this.#sessions.values()].map((s) => s.health()),
      refusedAddresses: [...this.#refused],
    };
  }

  async #tick(): Promise<void> {
    try {
      await this.#scan();
    } catch (err) {
      this.#adapterGone((err as Error).message);
    }
    if (this.#running) {
      this.#timer = this.#ctx.clock.setTimeout(() => {
        this.#tickDone = this.#tick();
      }, this.#o.scanIntervalMs);
    }
  }

  async #scan(): Promise<void> {
    if (!this.#running) return;
    const adapter = this.#adapter ?? (await this.#acquire());
    if (!(await adapter.isPowered())) {
      if (this.#adapterState !== "powered_off") {
        this.#ctx.log.warn({ adapter: this.#adapterName }, "ble adapter powered off");
        for (const s of this.#sessions.values()) s.adapterLost("adapter_powered_off");
      }
      this.#adapterState = "powered_off";
      return;
    }
    if (this.#adapterState !== "ready")
      this.#ctx.log.info({ adapter: this.#adapterName }, "ble adapter ready");
    this.#adapterState = "ready";
    this.#lastError = null;
    if (!(await adapter.isDiscovering())) {
      await adapter.startDiscovery().catch((err: Error) => {
        if (!/already in progress/i.test(err.message)) throw err;
      });
    }
    const present = (await adapter.devices()).map((a) => a.toUpperCase());
    for (const address of present) {
      const session = this.#sessions.get(address);
      if (session) {
        if (session.isReady() && this.#running) void session.connect(adapter);
      } else if (!this.#inspected.has(address)) {
        this.#inspected.add(address);
        await this.#inspectStranger(adapter, address);
      }
    }
  }

  /** A device that is not allow-listed: never connected; reported once if it looks like a health device. */
  async #inspectStranger(adapter: NodeBle.Adapter, address: string): Promise<void> {
    const device = await adapter.getDevice(address).catch(() => null);
    if (!device) return;
    const uuids = await advertisedUuids(device);
    const name = await device.getName().catch(() => "");
    if (!matchDefinition(this.#ctx.definitions, uuids, name)) return;
    this.#refused.add(address);
    this.#ctx.log.warn({ address }, "ble health device not allow-listed: ignored");
    this.#ctx.sink.connection({
      deviceKey: address,
      state: "refused",
      atMs: this.#ctx.clock.now(),
      reason: "device_not_provisioned",
    });
  }

  async #acquire(): Promise<NodeBle.Adapter> {
    const create = this.#o.createBluetooth ?? nodeBle.createBluetooth;
    if (!this.#bt) {
      this.#bt = create();
      guardBusErrors(this.#bt.bluetooth, (err) => {
        this.#lastError = err.message;
        this.#ctx.log.warn({ err: err.message }, "ble d-bus connection error");
      });
    }
    const adapter = this.#o.adapter
      ? await this.#bt.bluetooth.getAdapter(this.#o.adapter)
      : await this.#bt.bluetooth.defaultAdapter();
    this.#adapterName = this.#o.adapter ?? (await adapter.getName().catch(() => null));
    this.#adapter = adapter;
    return adapter;
  }

  #adapterGone(message: string): void {
    if (this.#adapterState !== "unavailable" || this.#lastError !== message)
      this.#ctx.log.warn({ err: message }, "ble adapter unavailable");
    this.#lastError = message;
    if (this.#adapterState !== "unavailable") {
      for (const s of this.#sessions.values()) s.adapterLost("adapter_unavailable");
    }
    this.#adapterState = "unavailable";
    // a fresh D-Bus connection next time: bluetoothd (or the bus) may have restarted
    this.#release();
    this.#inspected.clear();
  }

  #release(): void {
    this.#adapter = null;
    try {
      this.#bt?.destroy();
    } catch {
      // already closed
    }
    this.#bt = null;
  }
}
