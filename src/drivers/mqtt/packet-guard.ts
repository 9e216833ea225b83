/**
 * Bounds every MQTT packet of one connection while its bytes arrive, before the broker buffers it.
 *
 * aedes hands each socket read to mqtt-packet's parser, which keeps the bytes of a packet until its whole
 * remaining length has arrived; mqtt-packet 9 has no size limit of its own (the `maximumPacketSize` it knows
 * is an MQTT 5 property it writes, not a bound it enforces), and aedes none either. So a client that
 * announces a 256 MiB PUBLISH, before CONNECT or after, would be buffered until it stops sending. The
 * guard reads the same bytes first: each packet's fixed header ([MQTT 3.1.1 §2.2]) gives its size, and a
 * packet announced larger than the limit ends the connection before one byte of its body is kept. The
 * first packet must be a CONNECT ([MQTT-3.1.0-1]) and has a much smaller limit: nothing is buffered for a
 * client that has not even said who it is.
 *
 * It also bounds the time a packet may take to arrive once its first byte has: MQTT's keep-alive is the
 * client's choice (0 switches it off, [MQTT 3.1.1 §3.1.2.10]), so without a deadline a client could hold a
 * partial packet, and the memory of what it sent so far, open forever. A deadline that falls while the
 * gateway itself is not reading the socket (authentication, back-pressure, a packet being handled) starts
 * over instead: the rest of the packet may be waiting in the socket for the gateway, not for the client.
 *
 * The guard wraps the parser's `parse` of an aedes client (aedes 1.x feeds every read through
 * `client._parser.parse`); aedes is pinned to an exact version and the tests drive real sockets through
 * it, so a change of these internals fails a test rather than a ward.
 */
import type { Client } from "aedes";
import type { Clock } from "../../clock.js";

/** Why the guard ended a connection. Wire strings (refusal reasons): add, never rename. */
export type PacketRefusal = "packet_too_large" | "protocol_violation" | "malformed_packet" | "packet_timeout";

export interface PacketLimits {
  /** Largest first packet (the CONNECT), fixed header included. */
  maxConnectBytes: number;
  /** Largest later packet, fixed header included. */
  maxPacketBytes: number;
  /** Most time one packet may take to arrive, from its first byte, while the gateway is reading. */
  packetTimeoutMs: number;
}

/** [MQTT 3.1.1 §2.2.1] control packet type 1 */
const CONNECT = 1;
/** [MQTT 3.1.1 §2.2.3] the remaining length takes at most four bytes after the type byte */
const MAX_HEADER_BYTES = 5;

interface ParserInternals {
  parse(chunk: Buffer): number;
  prependListener(event: "error", listener: (err: Error) => void): unknown;
}

interface ClientInternals {
  _parser?: ParserInternals;
  _paused?: boolean;
  _parsingBatch?: number;
}

export class PacketGuard {
  readonly #limits: PacketLimits;
  readonly #clock: Clock;
  readonly #isReadHeld: () => boolean;
  readonly #onRefuse: (reason: PacketRefusal) => void;
  /** Packets whose first byte has arrived. */
  #started = 0;
  /** Bytes of the current packet's fixed header read so far; 0 between packets and in a body. */
  #headerBytes = 0;
  #remaining = 0;
  #multiplier = 1;
  /** Body bytes of the current packet still to come. */
  #bodyLeft = 0;
  #timer: unknown;
  /** The packet (`#started` when it began) the timer is running for. */
  #timedPacket = 0;
  #isRefused = false;
  #parseError: Error | undefined;

  constructor(deps: {
    limits: PacketLimits;
    clock: Clock;
    /** True while the gateway is not reading the socket (the partial-packet deadline waits meanwhile). */
    isReadHeld: () => boolean;
    /** Ends the connection and counts the refusal; called at most once. */
    onRefuse: (reason: PacketRefusal) => void;
  }) {
    this.#limits = deps.limits;
    this.#clock = deps.clock;
    this.#isReadHeld = deps.isReadHeld;
    this.#onRefuse = deps.onRefuse;
  }

  /** Puts a guard in front of the parser of a client aedes just created (before it has read anything). */
  static install(client: Client, deps: ConstructorParameters<typeof PacketGuard>[0]): PacketGuard {
    const parser = (client as unknown as ClientInternals)._parser;
    if (typeof parser?.parse !== "function" || typeof parser.prependListener !== "function") {
      throw new TypeError(
        "aedes client has no _parser.parse: the broker's internals changed (see packet-guard.ts)",
      );
    }
    const guard = new PacketGuard(deps);
    const parse = parser.parse.bind(parser);
    parser.parse = (chunk: Buffer) => (guard.scan(chunk) ? parse(chunk) : 0);
    // aedes reports the parser's errors like any other: remember which one came from the parser
    parser.prependListener("error", (err) => {
      guard.#parseError = err;
    });
    return guard;
  }

  /**
   * True while aedes itself is not reading the client's socket: authentication has paused it, or packets
   * already parsed are still being handled (it reads again once each has completed).
   */
  static isBrokerNotReading(client: Client): boolean {
    const c = client as unknown as ClientInternals;
    return c._paused === true || (c._parsingBatch ?? 0) > 0;
  }

  /** Whether mqtt-packet's parser raised `err` (a malformed packet). */
  isParseError(err: unknown): boolean {
    return err !== undefined && err === this.#parseError;
  }

  get isRefused(): boolean {
    return this.#isRefused;
  }

  /** True while a packet has started and not fully arrived. */
  get isPartial(): boolean {
    return this.#headerBytes > 0 || this.#bodyLeft > 0;
  }

  /**
   * Reads the framing of `chunk` (the next bytes of the stream). False once the connection is refused: the
   * chunk must then not be parsed.
   */
  scan(chunk: Uint8Array): boolean {
    if (this.#isRefused) return false;
    let i = 0;
    while (i < chunk.length) {
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, chunk.length - i);
        this.#bodyLeft -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#headerBytes === 0) {
        this.#started++;
        this.#headerBytes = 1;
        this.#remaining = 0;
        this.#multiplier = 1;
        // [MQTT-3.1.0-1] the first packet from the client MUST be CONNECT
        if (this.#started === 1 && byte >> 4 !== CONNECT) return this.#refuse("protocol_violation");
        continue;
      }
      // [MQTT 3.1.1 §2.2.3] seven bits per byte, least significant first; bit 7 says another byte follows
      this.#remaining += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#headerBytes++;
      if ((byte & 0x80) !== 0) {
        if (this.#headerBytes === MAX_HEADER_BYTES) return this.#refuse("malformed_packet");
        continue;
      }
      const limit = this.#started === 1 ? this.#limits.maxConnectBytes : this.#limits.maxPacketBytes;
      if (this.#headerBytes + this.#remaining > limit) return this.#refuse("packet_too_large");
      this.#bodyLeft = this.#remaining;
      this.#headerBytes = 0;
    }
    this.#watch();
    return true;
  }

  /** Stops the deadline (the connection closed). */
  stop(): void {
    this.#clearTimer();
  }

  #watch(): void {
    if (!this.isPartial) {
      this.#clearTimer();
      return;
    }
    if (this.#timer !== undefined && this.#timedPacket === this.#started) return;
    this.#arm();
  }

  #arm(): void {
    this.#clearTimer();
    this.#timedPacket = this.#started;
    this.#timer = this.#clock.setTimeout(() => this.#expire(), this.#limits.packetTimeoutMs);
  }

  #expire(): void {
    this.#timer = undefined;
    if (this.#isRefused || !this.isPartial || this.#timedPacket !== this.#started) return;
    // the rest may be waiting in the socket because the gateway chose not to read it: that time is ours
    if (this.#isReadHeld()) {
      this.#arm();
      return;
    }
    this.#refuse("packet_timeout");
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #refuse(reason: PacketRefusal): false {
    this.#isRefused = true;
    this.#clearTimer();
    this.#onRefuse(reason);
    return false;
  }
}

/**
 * The packet limit when `mqtt.maxPacketBytes` is not set: twice the payload limit and 1 KiB for the topic
 * and headers, so a payload a little over its limit still reaches the refusal that explains it
 * (`payload_too_large`, acknowledged) instead of ending the connection.
 */
export function defaultMaxPacketBytes(maxPayloadBytes: number): number {
  return 2 * maxPayloadBytes + 1024;
}
