/**
 * A simulated BlueZ: owns `org.bluez` on a (private) D-Bus and exports what node-ble 1.13 reads
 * (reference/ble-on-dbus.md): AgentManager1 at /org/bluez, Adapter1 at /org/bluez/hci0, Device1 per
 * peripheral, and on Connect the GattService1/GattCharacteristic1 objects, then ServicesResolved. Values are
 * delivered the way bluetoothd does it: a PropertiesChanged of the characteristic's `Value`.
 */
import { EventEmitter } from "node:events";
import dbus from "dbus-next";

const { Interface } = dbus.interface;
type Iface = InstanceType<typeof Interface>;

const bluezError = (name: string, message: string) => new dbus.DBusError(`org.bluez.Error.${name}`, message);
const changed = (iface: Iface, props: Record<string, unknown>) =>
  Interface.emitPropertiesChanged(iface, props, []);

class AgentManager extends Interface {
  RegisterAgent(_agent: string, _capability: string): void {}
  UnregisterAgent(_agent: string): void {}
  RequestDefaultAgent(_agent: string): void {}
}
AgentManager.configureMembers({
  methods: {
    RegisterAgent: { inSignature: "os" },
    UnregisterAgent: { inSignature: "o" },
    RequestDefaultAgent: { inSignature: "o" },
  },
});

class Adapter extends Interface {
  Address = "00:11:22:33:44:55";
  AddressType = "public";
  Name = "vitalog-sim";
  Alias = "vitalog-sim";
  Powered = true;
  Discovering = false;
  constructor(readonly sim: FakeBluez) {
    super("org.bluez.Adapter1");
  }
  SetDiscoveryFilter(_filter: unknown): void {}
  StartDiscovery(): void {
    if (!this.Powered) throw bluezError("NotReady", "Resource Not Ready");
    if (this.Discovering) throw bluezError("InProgress", "Operation already in progress");
    this.Discovering = true;
    changed(this, { Discovering: true });
    this.sim.discoveryStarted();
  }
  StopDiscovery(): void {
    if (!this.Discovering) throw bluezError("Failed", "No discovery started");
    this.Discovering = false;
    changed(this, { Discovering: false });
  }
  RemoveDevice(_path: string): void {}
}
Adapter.configureMembers({
  properties: {
    Address: { signature: "s", access: "read" },
    AddressType: { signature: "s", access: "read" },
    Name: { signature: "s", access: "read" },
    Alias: { signature: "s", access: "read" },
    Powered: { signature: "b", access: "read" },
    Discovering: { signature: "b", access: "read" },
  },
  methods: {
    SetDiscoveryFilter: { inSignature: "a{sv}" },
    StartDiscovery: {},
    StopDiscovery: {},
    RemoveDevice: { inSignature: "o" },
  },
});

class Device extends Interface {
  AddressType = "public";
  Paired = false;
  Trusted = false;
  Connected = false;
  ServicesResolved = false;
  RSSI = -58;
  constructor(
    readonly sim: FakeBluez,
    public Address: string,
    public Name: string,
    public Alias: string,
    public UUIDs: string[],
  ) {
    super("org.bluez.Device1");
  }
  async Connect(): Promise<void> {
    await this.sim.connect(this.Address);
  }
  Disconnect(): void {
    if (!this.Connected) throw bluezError("NotConnected", "Not Connected");
    this.sim.dropConnection(this.Address);
  }
  Pair(): void {
    this.Paired = true;
    changed(this, { Paired: true });
  }
  CancelPair(): void {}
}
Device.configureMembers({
  properties: {
    Address: { signature: "s", access: "read" },
    AddressType: { signature: "s", access: "read" },
    Name: { signature: "s", access: "read" },
    Alias: { signature: "s", access: "read" },
    Paired: { signature: "b", access: "read" },
    Trusted: { signature: "b", access: "read" },
    Connected: { signature: "b", access: "read" },
    ServicesResolved: { signature: "b", access: "read" },
    UUIDs: { signature: "as", access: "read" },
    RSSI: { signature: "n", access: "read" },
  },
  methods: { Connect: {}, Disconnect: {}, Pair: {}, CancelPair: {} },
});

class GattService extends Interface {
  Primary = true;
  constructor(
    public UUID: string,
    public Device: string,
  ) {
    super("org.bluez.GattService1");
  }
}
GattService.configureMembers({
  properties: {
    UUID: { signature: "s", access: "read" },
    Primary: { signature: "b", access: "read" },
    Device: { signature: "o", access: "read" },
  },
});

class GattCharacteristic extends Interface {
  Value: Buffer = Buffer.alloc(0);
  Notifying = false;
  constructor(
    readonly sim: FakeBluez,
    readonly address: string,
    public UUID: string,
    public Service: string,
    public Flags: string[],
  ) {
    super("org.bluez.GattCharacteristic1");
  }
  ReadValue(_options: unknown): Buffer {
    return this.Value;
  }
  /** As bluetoothd: refused without a write flag; else the peripheral's write handler runs after the reply. */
  WriteValue(value: Buffer, _options: unknown): void {
    if (!this.Flags.some((f) => f === "write" || f === "write-without-response"))
      throw bluezError("NotPermitted", "Write not permitted");
    this.Value = Buffer.from(value);
    this.sim.written(this.address, this.UUID, new Uint8Array(value));
  }
  StartNotify(): void {
    if (this.Notifying) throw bluezError("InProgress", "Notify already started");
    this.Notifying = true;
    changed(this, { Notifying: true });
    this.sim.emit("subscribed", this.address, this.UUID);
  }
  StopNotify(): void {
    this.Notifying = false;
    changed(this, { Notifying: false });
  }
}
GattCharacteristic.configureMembers({
  properties: {
    UUID: { signature: "s", access: "read" },
    Service: { signature: "o", access: "read" },
    Value: { signature: "ay", access: "read" },
    Notifying: { signature: "b", access: "read" },
    Flags: { signature: "as", access: "read" },
  },
  methods: {
    ReadValue: { inSignature: "a{sv}", outSignature: "ay" },
    WriteValue: { inSignature: "aya{sv}" },
    StartNotify: {},
    StopNotify: {},
  },
});

/** A simulated peripheral: its address, advertised name, GATT table and bonding state. */
export interface PeripheralSpec {
  address: string;
  name: string;
  paired?: boolean | undefined;
  services: ReadonlyArray<{
    uuid: string;
    characteristics: ReadonlyArray<{ uuid: string; flags: readonly string[] }>;
  }>;
}

interface DeviceEntry {
  spec: PeripheralSpec;
  path: string;
  iface: Device;
  exported: boolean;
  gatt: Array<{ path: string; iface: Iface }>;
  chars: Map<string, GattCharacteristic>;
}

const ADAPTER = "/org/bluez/hci0";
const devicePath = (address: string) => `${ADAPTER}/dev_${address.toUpperCase().replace(/:/g, "_")}`;

/** What a peripheral does when the central writes one of its characteristics (e.g. answer an RACP request). */
export type WriteHandler = (bytes: Uint8Array) => void;

/**
 * The simulated BlueZ. Events: "connected" (address), "disconnected" (address), "subscribed" (address, uuid),
 * "write" (address, uuid, bytes).
 * Timing knobs: `advertiseDelayMs` (devices appear after StartDiscovery), `resolveDelayMs` (ServicesResolved
 * after Connect).
 */
export class FakeBluez extends EventEmitter {
  readonly #bus: dbus.MessageBus;
  readonly #adapter = new Adapter(this);
  readonly #devices = new Map<string, DeviceEntry>();
  readonly #writeHandlers = new Map<string, WriteHandler>();
  advertiseDelayMs = 50;
  resolveDelayMs = 30;

  private constructor(bus: dbus.MessageBus) {
    super();
    this.#bus = bus;
  }

  /** Connects to the bus at `busAddress`, owns org.bluez and exports the agent manager and hci0. */
  static async start(busAddress: string): Promise<FakeBluez> {
    const bus = dbus.sessionBus({ busAddress });
    const sim = new FakeBluez(bus);
    bus.on("error", () => {});
    await bus.requestName("org.bluez", dbus.NameFlag.DO_NOT_QUEUE);
    bus.export("/org/bluez", new AgentManager("org.bluez.AgentManager1"));
    bus.export(ADAPTER, sim.#adapter);
    return sim;
  }

  /** Adds a peripheral; it becomes visible while discovery runs (at once if it already does). */
  addPeripheral(spec: PeripheralSpec): void {
    const address = spec.address.toUpperCase();
    const uuids = spec.services.map((s) => s.uuid.toLowerCase());
    const iface = new Device(this, address, spec.name, spec.name, uuids);
    iface.Paired = spec.paired ?? false;
    this.#devices.set(address, {
      spec,
      path: devicePath(address),
      iface,
      exported: false,
      gatt: [],
      chars: new Map(),
    });
    if (this.#adapter.Discovering) this.#advertise(address);
  }

  /** Sends `bytes` as a notification/indication of `charUuid`; false when the central is not subscribed. */
  notify(address: string, charUuid: string, bytes: Uint8Array): boolean {
    const char = this.#devices.get(address.toUpperCase())?.chars.get(charUuid.toLowerCase());
    if (!char?.Notifying) return false;
    char.Value = Buffer.from(bytes);
    changed(char, { Value: char.Value });
    return true;
  }

  /**
   * The peripheral's behaviour on a write of `charUuid` (it survives link drops). It runs just after the
   * WriteValue reply, as a peripheral answers an ATT write request before it starts notifying.
   */
  onWrite(address: string, charUuid: string, handler: WriteHandler): void {
    this.#writeHandlers.set(`${address.toUpperCase()} ${charUuid.toLowerCase()}`, handler);
  }

  /** Called by a characteristic's WriteValue. */
  written(address: string, charUuid: string, bytes: Uint8Array): void {
    this.emit("write", address, charUuid, bytes);
    const handler = this.#writeHandlers.get(`${address.toUpperCase()} ${charUuid.toLowerCase()}`);
    if (handler) setImmediate(() => handler(bytes));
  }

  isSubscribed(address: string, charUuid: string): boolean {
    return this.#devices.get(address.toUpperCase())?.chars.get(charUuid.toLowerCase())?.Notifying === true;
  }

  isConnected(address: string): boolean {
    return this.#devices.get(address.toUpperCase())?.iface.Connected === true;
  }

  /** Link loss (supervision timeout): Connected and ServicesResolved go false, the GATT objects vanish. */
  dropConnection(address: string): void {
    const d = this.#devices.get(address.toUpperCase());
    if (!d?.iface.Connected) return;
    for (const g of d.gatt.reverse()) this.#bus.unexport(g.path, g.iface);
    d.gatt = [];
    d.chars.clear();
    d.iface.Connected = false;
    d.iface.ServicesResolved = false;
    changed(d.iface, { ServicesResolved: false, Connected: false });
    this.emit("disconnected", d.iface.Address);
  }

  /** Adapter power: off drops every link and stops discovery (as bluetoothd does). */
  setPowered(on: boolean): void {
    if (this.#adapter.Powered === on) return;
    if (!on) {
      for (const address of this.#devices.keys()) this.dropConnection(address);
      this.#adapter.Discovering = false;
    }
    this.#adapter.Powered = on;
    changed(this.#adapter, { Powered: on, ...(on ? {} : { Discovering: false }) });
  }

  discoveryStarted(): void {
    for (const address of this.#devices.keys()) this.#advertise(address);
  }

  async connect(address: string): Promise<void> {
    const d = this.#devices.get(address);
    if (!d) throw bluezError("DoesNotExist", "Does Not Exist");
    if (!this.#adapter.Powered) throw bluezError("NotReady", "Resource Not Ready");
    if (d.iface.Connected) throw bluezError("AlreadyConnected", "Already Connected");
    d.iface.Connected = true;
    changed(d.iface, { Connected: true });
    d.spec.services.forEach((s, i) => {
      const sPath = `${d.path}/service${(0x0c + i * 0x10).toString(16).padStart(4, "0")}`;
      const sIface = new GattService(s.uuid.toLowerCase(), d.path);
      this.#bus.export(sPath, sIface);
      d.gatt.push({ path: sPath, iface: sIface });
      s.characteristics.forEach((c, k) => {
        const cPath = `${sPath}/char${(0x0d + i * 0x10 + k * 2).toString(16).padStart(4, "0")}`;
        const cIface = new GattCharacteristic(this, d.iface.Address, c.uuid.toLowerCase(), sPath, [
          ...c.flags,
        ]);
        this.#bus.export(cPath, cIface);
        d.gatt.push({ path: cPath, iface: cIface });
        d.chars.set(c.uuid.toLowerCase(), cIface);
      });
    });
    this.emit("connected", d.iface.Address);
    setTimeout(() => {
      if (!d.iface.Connected || d.iface.ServicesResolved) return;
      d.iface.ServicesResolved = true;
      changed(d.iface, { ServicesResolved: true });
    }, this.resolveDelayMs);
  }

  #advertise(address: string): void {
    setTimeout(() => {
      const d = this.#devices.get(address);
      if (!d || d.exported || !this.#adapter.Discovering) return;
      d.exported = true;
      this.#bus.export(d.path, d.iface);
    }, this.advertiseDelayMs);
  }

  async stop(): Promise<void> {
    this.#bus.disconnect();
  }
}
