import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FairQueue } from "../../../src/drivers/mqtt/fair-queue.js";

describe("fair queue (round robin per key)", () => {
  it("runs at most `concurrency` tasks and takes waiting ones in turn per key", () => {
    const q = new FairQueue({ concurrency: 1, maxWaiting: 100 });
    const order: string[] = [];
    const finish: Array<() => void> = [];
    const task = (name: string) => (done: () => void) => {
      order.push(name);
      finish.push(done);
    };
    q.submit("storm", task("storm-0"));
    for (let i = 1; i <= 5; i++) q.submit("storm", task(`storm-${i}`));
    q.submit("device", task("device"));
    assert.equal(q.running, 1);
    assert.equal(q.waiting, 6);
    while (finish.length > 0) finish.shift()!();
    assert.deepEqual(order, ["storm-0", "storm-1", "device", "storm-2", "storm-3", "storm-4", "storm-5"]);
  });

  it("refuses beyond maxWaiting and never runs the refused task", () => {
    const q = new FairQueue({ concurrency: 1, maxWaiting: 2 });
    let ran = 0;
    const hold = () => {
      ran++;
    };
    assert.equal(q.submit("a", hold), true);
    assert.equal(q.submit("a", hold), true);
    assert.equal(q.submit("b", hold), true);
    assert.equal(q.submit("c", hold), false);
    assert.equal(ran, 1);
  });

  it("drains thousands of tasks that finish at once without growing the stack", () => {
    const q = new FairQueue({ concurrency: 1, maxWaiting: 100_000 });
    let release!: () => void;
    q.submit("first", (done) => {
      release = done;
    });
    let ran = 0;
    for (let i = 0; i < 50_000; i++)
      q.submit(`k${i % 7}`, (done) => {
        ran++;
        done();
      });
    release();
    assert.equal(ran, 50_000);
    assert.equal(q.running, 0);
  });

  it("ignores a second done from the same task", () => {
    const q = new FairQueue({ concurrency: 1, maxWaiting: 10 });
    let first!: () => void;
    q.submit("a", (done) => {
      first = done;
    });
    q.submit("a", () => {});
    first();
    first();
    assert.equal(q.running, 1, "the second task runs; the repeated done did not free its slot");
  });
});
