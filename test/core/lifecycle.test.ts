import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Lifecycle, type Service } from "../../src/core/service.js";

const quiet = { info: () => {}, warn: () => {} };

function recorder() {
  const events: string[] = [];
  const service = (
    name: string,
    opts: { failStart?: boolean; failStop?: boolean; status?: () => unknown } = {},
  ) =>
    ({
      name,
      async start() {
        events.push(`start ${name}`);
        if (opts.failStart) throw new Error(`${name} cannot start`);
      },
      async stop() {
        events.push(`stop ${name}`);
        if (opts.failStop) throw new Error(`${name} cannot stop`);
      },
      ...(opts.status ? { status: opts.status } : {}),
    }) satisfies Service;
  return { events, service };
}

describe("Lifecycle", () => {
  it("starts in the order added and stops in reverse, once", async () => {
    const { events, service } = recorder();
    const life = new Lifecycle(quiet);
    life.add(service("a"), service("b"));
    life.add(service("c"));
    await life.start();
    await life.stop();
    await life.stop();
    assert.deepEqual(events, ["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
  });

  it("rejects with the first start failure after stopping every service in reverse", async () => {
    const { events, service } = recorder();
    const life = new Lifecycle(quiet);
    life.add(service("a"), service("b", { failStart: true }), service("c"));
    await assert.rejects(life.start(), /b cannot start/);
    assert.deepEqual(events, ["start a", "start b", "stop c", "stop b", "stop a"]);
  });

  it("stops the others when one stop fails, and logs the failure", async () => {
    const { events, service } = recorder();
    const warned: unknown[] = [];
    const life = new Lifecycle({ info: () => {}, warn: (fields) => warned.push(fields) });
    life.add(service("a"), service("b", { failStop: true }));
    await life.start();
    await life.stop();
    assert.deepEqual(events.slice(2), ["stop b", "stop a"]);
    assert.deepEqual(warned, [{ service: "b", err: "b cannot stop" }]);
  });

  it("aggregates status by name and shows a throwing status as its error", () => {
    const { service } = recorder();
    const life = new Lifecycle(quiet);
    life.add(
      service("a", { status: () => ({ ok: 1 }) }),
      service("b"),
      service("c", {
        status: () => {
          throw new Error("unreadable");
        },
      }),
    );
    assert.deepEqual(life.status(), { a: { ok: 1 }, c: { error: "unreadable" } });
  });

  it("refuses a service added twice or after start", async () => {
    const { service } = recorder();
    const life = new Lifecycle(quiet);
    life.add(service("a"));
    assert.throws(() => life.add(service("a")), TypeError);
    await life.start();
    assert.throws(() => life.add(service("b")), TypeError);
  });
});
