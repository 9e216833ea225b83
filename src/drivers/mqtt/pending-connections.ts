/**
 * Caps the connections that have not authenticated yet, in total and per source address. Such a
 * connection costs the gateway memory (its socket buffers, a partial packet up to the CONNECT limit) and
 * authentication work, and nothing proves it belongs to a device yet.
 *
 * Over a cap the gateway closes a waiting connection of the address holding the most, not the newcomer:
 * the oldest one that has been silent (no CONNECT) for more than a second, or else the oldest. Refusing
 * newcomers would let anyone who opens connections and says nothing (until the CONNECT deadline, then
 * again) keep every real device out. This way such connections only push out each other, and a device,
 * whose CONNECT follows its TCP handshake within a round trip, is pushed out only by a client that keeps
 * a whole cap of connections younger than it waiting from the same address. The memory bound is the same
 * either way.
 */

/** A connection silent for longer than this is pushed out before any other. */
const SILENT_GRACE_MS = 1000;

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
  readonly #entries = new Map<T, { source: string; addedAtMs: number; hasConnected: boolean }>();
  readonly #now: () => number;

  constructor(
    limits: PendingLimits,
    close: (connection: T, reason: PendingRefusal) => void,
    now: () => number = Date.now,
  ) {
    this.#limits = limits;
    this.#close = close;
    this.#now = now;
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
    this.#entries.set(connection, { source, addedAtMs: this.#now(), hasConnected: false });
  }

  /** The connection's CONNECT has arrived (it is being authenticated): it is no longer silent. */
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
    const silentSince = this.#now() - SILENT_GRACE_MS;
    let victim: T | undefined;
    // oldest first (a Set keeps insertion order)
    for (const connection of set) {
      victim ??= connection;
      const entry = this.#entries.get(connection);
      if (entry && !entry.hasConnected && entry.addedAtMs <= silentSince) {
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
