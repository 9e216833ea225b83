/**
 * Caps the connections that have not authenticated yet, in total and per source address. Such a
 * connection costs the gateway memory (its socket buffers, a partial packet up to the CONNECT limit) and
 * authentication work, and nothing proves it belongs to a device yet.
 *
 * Over a cap the gateway closes the **oldest** waiting connection of the address holding the most, not
 * the newcomer, and among those first one that has not delivered its CONNECT yet. Refusing newcomers
 * would let anyone who opens connections and says nothing (until the CONNECT deadline, then again) keep
 * every real device out; closing the oldest silent one means such connections only push out each other,
 * and a device that has sent its CONNECT is pushed out only by a client that keeps a whole cap of
 * CONNECTs waiting from the same address. The memory bound is the same either way.
 */

/** Why a waiting connection was closed. Wire strings (refusal reasons): add, never rename. */
export type PendingRefusal = "unauthenticated_limit" | "unauthenticated_address_limit";

export interface PendingLimits {
  /** Most connections waiting for authentication, all addresses together. */
  maxTotal: number;
  /** Most connections waiting for authentication from one source address (an IPv6 /64 counts as one). */
  maxPerAddress: number;
}

export class PendingConnections<T> {
  readonly #limits: PendingLimits;
  readonly #close: (connection: T, reason: PendingRefusal) => void;
  /** Waiting connections per source, oldest first (a Set keeps insertion order). */
  readonly #bySource = new Map<string, Set<T>>();
  readonly #entries = new Map<T, { source: string; hasConnected: boolean }>();

  constructor(limits: PendingLimits, close: (connection: T, reason: PendingRefusal) => void) {
    this.#limits = limits;
    this.#close = close;
  }

  /** Connections waiting for authentication. */
  get size(): number {
    return this.#entries.size;
  }

  /** Waiting connections from `source`. */
  countFrom(source: string): number {
    return this.#bySource.get(source)?.size ?? 0;
  }

  /** A new connection from `source` (a {@link sourceKey}); closes the oldest waiting one over a cap. */
  add(connection: T, source: string): void {
    const own = this.#bySource.get(source);
    if (own && own.size >= this.#limits.maxPerAddress) {
      this.#evictOldest(own, "unauthenticated_address_limit");
    } else if (this.#entries.size >= this.#limits.maxTotal) {
      const heaviest = this.#heaviest();
      if (heaviest) this.#evictOldest(heaviest, "unauthenticated_limit");
    }
    let set = this.#bySource.get(source);
    if (!set) {
      set = new Set();
      this.#bySource.set(source, set);
    }
    set.add(connection);
    this.#entries.set(connection, { source, hasConnected: false });
  }

  /** The connection's CONNECT has arrived (it is being authenticated): it is pushed out last. */
  markConnected(connection: T): void {
    const entry = this.#entries.get(connection);
    if (entry) entry.hasConnected = true;
  }

  /** The connection authenticated or closed: it no longer counts. */
  delete(connection: T): void {
    const entry = this.#entries.get(connection);
    if (entry === undefined) return;
    this.#entries.delete(connection);
    const set = this.#bySource.get(entry.source);
    set?.delete(connection);
    if (set?.size === 0) this.#bySource.delete(entry.source);
  }

  #evictOldest(set: ReadonlySet<T>, reason: PendingRefusal): void {
    let victim: T | undefined;
    for (const connection of set) {
      victim ??= connection;
      if (this.#entries.get(connection)?.hasConnected === false) {
        victim = connection;
        break;
      }
    }
    if (victim === undefined) return;
    this.delete(victim);
    this.#close(victim, reason);
  }

  /** The source with the most waiting connections (the first seen among equals). */
  #heaviest(): Set<T> | undefined {
    let best: Set<T> | undefined;
    for (const set of this.#bySource.values()) if (!best || set.size > best.size) best = set;
    return best;
  }
}

/**
 * The key connections are counted under: the IPv4 address (an IPv4-mapped IPv6 address as its IPv4 form),
 * or the /64 prefix of an IPv6 address, since one IPv6 host is usually given a whole /64 to pick from.
 */
export function sourceKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return "unknown";
  const address = remoteAddress.split("%", 1)[0]!.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("::", 2);
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  const prefix = groups.slice(0, 4).map((g) => (Number.parseInt(g, 16) || 0).toString(16));
  while (prefix.length < 4) prefix.push("0");
  return `${prefix.join(":")}::/64`;
}
