/**
 * The few things the BLE driver needs from node-ble 1.13 beyond its typed API, in one place.
 * node-ble wraps every BlueZ object in a `BusHelper` (`.helper`) that can read any property of the object's
 * interface; the typed API just does not expose `Device1.UUIDs` (advertised services) or `ServicesResolved`,
 * and never releases its D-Bus signal listeners when a link drops. Each accessor fails soft.
 */
import type NodeBle from "node-ble";

interface BusHelperLike {
  prop(name: string): Promise<unknown>;
  removeListeners(): void;
}

function helperOf(obj: unknown): BusHelperLike | undefined {
  const h = (obj as { helper?: Partial<BusHelperLike> } | null)?.helper;
  return h && typeof h.prop === "function" && typeof h.removeListeners === "function"
    ? (h as BusHelperLike)
    : undefined;
}

/** Device1.UUIDs: the service UUIDs the peripheral advertises (lower-case 128-bit); [] when unknown. */
export async function advertisedUuids(device: NodeBle.Device): Promise<string[]> {
  try {
    const v = await helperOf(device)?.prop("UUIDs");
    return Array.isArray(v)
      ? v.filter((u): u is string => typeof u === "string").map((u) => u.toLowerCase())
      : [];
  } catch {
    return [];
  }
}

/** Device1.ServicesResolved; false when unreadable. */
export async function servicesResolved(device: NodeBle.Device): Promise<boolean> {
  try {
    return (await helperOf(device)?.prop("ServicesResolved")) === true;
  } catch {
    return false;
  }
}

/** Drops the D-Bus signal subscriptions node-ble holds for `obj` (after a link loss, before a new attempt). */
export function releaseListeners(obj: unknown): void {
  try {
    helperOf(obj)?.removeListeners();
  } catch {
    // nothing to release
  }
}

/**
 * node-ble never listens for its dbus-next bus's 'error' event, so a lost or refused D-Bus connection would
 * be an uncaught exception that takes the whole gateway down. Route it to `onError` instead.
 */
export function guardBusErrors(bluetooth: NodeBle.Bluetooth, onError: (err: Error) => void): void {
  const bus = (bluetooth as unknown as { dbus?: { on?(event: "error", fn: (err: Error) => void): void } })
    .dbus;
  bus?.on?.("error", onError);
}
