/**
 * MLLP (HL7 Minimal Lower Layer Protocol, HL7 v2 Implementation Guide Appendix C): each message is framed
 * <VT 0x0B> message <FS 0x1C><CR 0x0D>. `MllpDeframer` reassembles frames from a TCP stream; bytes outside
 * a frame are discarded. `MllpTransport` keeps one connection to the Alert Manager, sends one ORU^R40 at a
 * time and waits for its ACK^R40: AA/CA delivered; AE/CE retried; AR/CR dead-lettered; a missing or
 * mismatched ACK closes the connection and retries (reconnecting).
 */
import { connect, type Socket } from "node:net";
import type { AlertMessage } from "./alert-message.js";
import { DeliveryError } from "./backoff.js";
import type { DeliveryTransport } from "./delivery-queue.js";
import { encodeOruR40, type Oru40Options, parseAck } from "./hl7-oru-r40.js";

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;
/** Largest frame accepted from the peer (an ACK is tiny). */
const MAX_FRAME_BYTES = 1 << 20;

/**
 * Frames one message. The content MUST NOT contain VT or FS (MLLP has no escape for its block characters; a
 * stray FS would end the frame early and the rest would be read as noise): the HL7 encoder escapes every
 * control character in the values it places (hl7-oru-r40.ts), so one here is a bug and a RangeError.
 */
export function frameMllp(message: string): Buffer {
  const bad = /[\v\x1c]/.exec(message);
  if (bad !== null) throw new RangeError(`MLLP content contains a block character at ${bad.index}`);
  return Buffer.concat([Buffer.from([VT]), Buffer.from(message, "utf8"), Buffer.from([FS, CR])]);
}

/** Incremental MLLP deframer. */
export class MllpDeframer {
  #buf: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the complete messages (UTF-8) they finish. */
  push(chunk: Buffer): string[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: string[] = [];
    for (;;) {
      const start = this.#buf.indexOf(VT);
      if (start < 0) {
        this.#buf = Buffer.alloc(0);
        break;
      }
      const end = this.#buf.indexOf(FS, start + 1);
      if (end < 0 || end + 1 >= this.#buf.length) {
        this.#buf = this.#buf.subarray(start);
        if (this.#buf.length > MAX_FRAME_BYTES) this.#buf = Buffer.alloc(0);
        break;
      }
      if (this.#buf[end + 1] === CR) out.push(this.#buf.subarray(start + 1, end).toString("utf8"));
      this.#buf = this.#buf.subarray(end + 2);
    }
    return out;
  }
}

export class MllpTransport implements DeliveryTransport {
  readonly #host: string;
  readonly #port: number;
  readonly #hl7: Oru40Options;
  readonly #ackTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #now: () => number;
  #socket: Socket | null = null;
  #waiter: ((frame: string | Error) => void) | null = null;
  #seq = 0;
  #connects = 0;

  constructor(opts: {
    host: string;
    port: number;
    hl7: Oru40Options;
    ackTimeoutMs: number;
    connectTimeoutMs: number;
    now: () => number;
  }) {
    this.#host = opts.host;
    this.#port = opts.port;
    this.#hl7 = opts.hl7;
    this.#ackTimeoutMs = opts.ackTimeoutMs;
    this.#connectTimeoutMs = opts.connectTimeoutMs;
    this.#now = opts.now;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const socket = await this.#connected(signal);
    // MSH-10: unique per attempt (a re-sent message is a new message to the receiver's ACK matching)
    const controlId = `${message.event_id}.${++this.#seq}`.slice(-199);
    const text = encodeOruR40(message, controlId, this.#hl7, this.#now());
    const reply = await this.#request(socket, frameMllp(text), signal);
    const ack = parseAck(reply);
    if (!ack || ack.controlId !== controlId) {
      this.#drop();
      throw new DeliveryError(ack ? `ACK for ${ack.controlId}, expected ${controlId}` : "reply without MSA");
    }
    if (ack.code === "AA" || ack.code === "CA") return;
    const permanent = ack.code === "AR" || ack.code === "CR";
    throw new DeliveryError(`alert manager answered ${ack.code}${ack.text ? `: ${ack.text}` : ""}`, {
      permanent,
    });
  }

  async close(): Promise<void> {
    this.#drop();
  }

  status(): Record<string, unknown> {
    return {
      peer: `${this.#host}:${this.#port}`,
      connected: this.#socket !== null,
      connects: this.#connects,
    };
  }

  #connected(signal: AbortSignal): Promise<Socket> {
    if (this.#socket) return Promise.resolve(this.#socket);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
      const fail = (err: Error) => {
        cleanup();
        socket.destroy();
        reject(new DeliveryError(`alert manager unreachable: ${err.message}`, { cause: err }));
      };
      const timer = setTimeout(() => fail(new Error("connect timeout")), this.#connectTimeoutMs);
      const onAbort = () => fail(new Error("aborted"));
      const cleanup = () => {
        clearTimeout(timer);
        socket.off("error", fail);
        signal.removeEventListener("abort", onAbort);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      socket.once("error", fail);
      socket.once("connect", () => {
        cleanup();
        this.#attach(socket);
        resolve(socket);
      });
    });
  }

  #attach(socket: Socket): void {
    this.#connects++;
    this.#socket = socket;
    const deframer = new MllpDeframer();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of deframer.push(chunk)) {
        const w = this.#waiter;
        this.#waiter = null;
        w?.(frame); // an unsolicited frame is ignored
      }
    });
    const gone = (err?: Error) => {
      if (this.#socket === socket) this.#socket = null;
      const w = this.#waiter;
      this.#waiter = null;
      w?.(err ?? new Error("connection closed by the alert manager"));
    };
    socket.on("error", gone);
    socket.on("close", () => gone());
  }

  #request(socket: Socket, frame: Buffer, signal: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const finish = (result: string | Error) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.#waiter = null;
        if (typeof result === "string") resolve(result);
        else
          reject(
            result instanceof DeliveryError ? result : new DeliveryError(result.message, { cause: result }),
          );
      };
      const timer = setTimeout(() => {
        this.#drop(); // a late ACK must not be taken for the next message's
        finish(new DeliveryError(`no ACK within ${this.#ackTimeoutMs} ms`));
      }, this.#ackTimeoutMs);
      const onAbort = () => {
        this.#drop();
        finish(new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiter = finish;
      socket.write(frame);
    });
  }

  #drop(): void {
    const s = this.#socket;
    this.#socket = null;
    s?.destroy();
  }
}
