/**
 * Stops the embedded broker from reading one client's socket, so a device over its budget, or one
 * flooding the commit queue, is slowed by TCP itself (its kernel buffers fill and its writes block)
 * instead of being buffered in the gateway's memory.
 *
 * aedes 1.x reads a connection in batches: its `_nextBatch` runs on the socket's `readable` event and
 * whenever a packet's handling completes, and reads the socket once no packet of the batch is pending.
 * Its own `Client.pause()` drops the completions that arrive while paused, which can leave a client
 * unread forever; so the gate wraps `_nextBatch` instead: while closed, calls are counted, not run, and
 * replayed in order when it opens. aedes is pinned to an exact version and the adversarial suite
 * exercises the gate, so a change of these internals fails a test rather than a ward.
 */
import type { Duplex } from "node:stream";
import type { Client } from "aedes";

interface AedesClientInternals {
  _nextBatch: (err?: Error) => void;
  conn: Duplex;
}

export class ReadGate {
  readonly #run: (err?: Error) => void;
  readonly #reasons = new Set<string>();
  #deferred = 0;

  constructor(run: (err?: Error) => void) {
    this.#run = run;
  }

  /** Installs a gate on a client aedes just created (before it has read anything). */
  static install(client: Client): ReadGate {
    const c = client as unknown as AedesClientInternals;
    const original = c._nextBatch;
    if (typeof original !== "function" || typeof c.conn?.removeListener !== "function") {
      throw new TypeError(
        "aedes client has no _nextBatch: the broker's internals changed (see read-gate.ts)",
      );
    }
    const gate = new ReadGate(original);
    const wrapped = (err?: Error) => gate.#call(err);
    c.conn.removeListener("readable", original);
    c.conn.on("readable", wrapped);
    c._nextBatch = wrapped;
    return gate;
  }

  get isClosed(): boolean {
    return this.#reasons.size > 0;
  }

  /** Stops reading for `reason` (several reasons may hold the gate closed at once). */
  close(reason: string): void {
    this.#reasons.add(reason);
  }

  /** Lifts `reason`; once no reason holds, the deferred reads run. */
  open(reason: string): void {
    if (!this.#reasons.delete(reason) || this.#reasons.size > 0) return;
    // one at a time: a replayed read may close the gate again, and what is left stays deferred
    while (this.#deferred > 0 && this.#reasons.size === 0) {
      this.#deferred--;
      this.#run();
    }
  }

  #call(err?: Error): void {
    // an error is reported at once: it ends the connection, which is never deferred
    if (err || this.#reasons.size === 0) {
      this.#run(err);
      return;
    }
    this.#deferred++;
  }
}
