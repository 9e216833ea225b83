import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import type { Client } from "aedes";
import { ReadGate } from "../../../src/drivers/mqtt/read-gate.js";

/** The two internals of an aedes client the gate relies on (read-gate.ts). */
function fakeClient() {
  const runs: (Error | undefined)[] = [];
  const conn = new EventEmitter();
  const nextBatch = (err?: Error) => runs.push(err);
  conn.on("readable", nextBatch);
  const client = { _nextBatch: nextBatch, conn };
  return { client, runs, conn };
}

describe("read gate (stops aedes reading one client's socket)", () => {
  it("defers every read while closed and replays each, once no reason holds it closed", () => {
    const { client, runs, conn } = fakeClient();
    const gate = ReadGate.install(client as unknown as Client);
    assert.equal(conn.listenerCount("readable"), 1, "aedes' own listener replaced, not doubled");
    gate.close("rate");
    gate.close("queue");
    conn.emit("readable");
    client._nextBatch(); // a packet's handling completed
    assert.equal(runs.length, 0, "nothing read while closed");
    gate.open("rate");
    assert.equal(runs.length, 0, "another reason still holds it");
    gate.open("queue");
    assert.equal(runs.length, 2, "both deferred reads replayed");
    conn.emit("readable");
    assert.equal(runs.length, 3, "open: reads go through at once");
  });

  it("passes an error through at once, even while closed (it ends the connection)", () => {
    const { client, runs } = fakeClient();
    const gate = ReadGate.install(client as unknown as Client);
    gate.close("rate");
    const err = new Error("parse error");
    client._nextBatch(err);
    assert.deepEqual(runs, [err]);
  });

  it("keeps what is left deferred when a replayed read closes the gate again", () => {
    const { client, runs } = fakeClient();
    const gate = ReadGate.install(client as unknown as Client);
    gate.close("rate");
    client._nextBatch();
    client._nextBatch();
    client._nextBatch();
    let first = true;
    const original = runs.push.bind(runs);
    runs.push = (...items) => {
      if (first) {
        first = false;
        gate.close("rate");
      }
      return original(...items);
    };
    gate.open("rate");
    assert.equal(runs.length, 1, "one replayed, then closed again");
    gate.open("rate");
    assert.equal(runs.length, 3);
  });

  it("refuses an aedes client without the internals it relies on", () => {
    assert.throws(() => ReadGate.install({} as unknown as Client), /internals changed/);
  });
});
