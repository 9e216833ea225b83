/**
 * Fair authentication under a storm of wrong-password CONNECTs (real gateway, real aedes, real scrypt,
 * raw sockets from many loopback addresses). Each test starts 700 bad attempts and asserts that a
 * well-behaved device connects while they are still running; how long it took is the benchmark's
 * business (`npm run bench:auth`), not the test's.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DeviceRegistry } from "../../src/drivers/device-registry.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { ConnectStorm, connectOnce } from "./connect-storm.js";

const STORM = 700;
const CONCURRENCY = 48;
/** 127.0.0.<first> … 127.0.0.<first + count - 1> */
const addressOf = (first: number, count: number, i: number) => `127.0.0.${first + (i % count)}`;

describe("authentication storm (real gateway, real scrypt, 127.0.0.0/8 as many hosts)", () => {
  let t: TestGateway;
  let port: number;
  const refusals = (reason: string) => t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason }) ?? 0;

  before(async () => {
    t = await startTestGateway();
    port = t.gw.mqtt.port;
  });
  after(() => t.close());

  it("connects a device while 700 wrong-password CONNECTs for its own id come from other addresses", async (tc) => {
    const password = await t.provision("wear-storm-a");
    const verifiedBefore = refusals("bad_password");
    const storm = new ConnectStorm(port, {
      total: STORM,
      concurrency: CONCURRENCY,
      attempt: (i) => ({
        localAddress: addressOf(10, 64, i),
        clientId: "wear-storm-a",
        password: `guess-${i}`,
      }),
    });
    await storm.after(STORM / 4);
    const good = await connectOnce(port, {
      localAddress: "127.0.0.2",
      clientId: "wear-storm-a",
      password,
    });
    const wasRunning = storm.isRunning;
    await storm.done;
    tc.diagnostic(
      `device CONNACK ${good.code} after ${good.ms.toFixed(0)} ms; storm ${JSON.stringify([...storm.outcomes])}`,
    );
    assert.equal(good.code, 0, "the device is accepted");
    assert.ok(wasRunning, "…while the storm was still running");
    assert.equal(storm.outcomes.get(0) ?? 0, 0, "no guess accepted");
    assert.ok(refusals("auth_throttled") > 0, "the id was backed off");
    assert.ok(
      refusals("bad_password") - verifiedBefore < STORM / 4,
      `most guesses refused without an scrypt (${refusals("bad_password") - verifiedBefore} verified)`,
    );
  });

  it("connects a device while 700 CONNECTs with as many ids come from its own address", async (tc) => {
    const password = await t.provision("wear-storm-b");
    // a mix of ids that exist with wrong passwords and ids that do not
    for (let k = 0; k < 8; k++) await t.provision(`wear-neighbour-${k}`);
    const storm = new ConnectStorm(port, {
      total: STORM,
      concurrency: CONCURRENCY,
      attempt: (i) => ({
        localAddress: "127.0.0.3",
        clientId: i % 2 === 0 ? `wear-neighbour-${i % 8}` : `ghost-${i}`,
        password: `guess-${i}`,
      }),
    });
    await storm.after(STORM / 4);
    const good = await connectOnce(port, { localAddress: "127.0.0.3", clientId: "wear-storm-b", password });
    const wasRunning = storm.isRunning;
    await storm.done;
    tc.diagnostic(
      `device CONNACK ${good.code} after ${good.ms.toFixed(0)} ms; storm ${JSON.stringify([...storm.outcomes])}`,
    );
    assert.equal(good.code, 0, "the device is accepted");
    assert.ok(wasRunning, "…while the storm was still running");
    assert.equal(storm.outcomes.get(0) ?? 0, 0, "no guess accepted");
  });

  it("connects a device never seen since start while a storm against another id comes from other addresses", async (tc) => {
    await t.provision("wear-storm-c");
    // provisioned by another process (the CLI): this gateway has never verified its password
    const password = "cold-device-secret";
    await new DeviceRegistry(t.gw.db).add({ id: "wear-cold", subjectId: "pt-cold", password }, Date.now());
    const storm = new ConnectStorm(port, {
      total: STORM,
      concurrency: CONCURRENCY,
      attempt: (i) => ({
        localAddress: addressOf(80, 64, i),
        clientId: "wear-storm-c",
        password: `guess-${i}`,
      }),
    });
    await storm.after(STORM / 4);
    const good = await connectOnce(port, { localAddress: "127.0.0.4", clientId: "wear-cold", password });
    const wasRunning = storm.isRunning;
    await storm.done;
    tc.diagnostic(
      `device CONNACK ${good.code} after ${good.ms.toFixed(0)} ms; storm ${JSON.stringify([...storm.outcomes])}`,
    );
    assert.equal(good.code, 0, "the device is accepted after a full verification");
    assert.ok(wasRunning, "…while the storm was still running");
  });

  it("connects a device never seen since start while a storm guesses its own id from other addresses", async (tc) => {
    const password = "cold-target-secret";
    await new DeviceRegistry(t.gw.db).add(
      { id: "wear-cold-target", subjectId: "pt-ct", password },
      Date.now(),
    );
    // open-ended: it runs until the device is in (or 20,000 guesses, which would fail the test)
    const storm = new ConnectStorm(port, {
      total: 20_000,
      concurrency: CONCURRENCY,
      attempt: (i) => ({
        localAddress: addressOf(160, 64, i),
        clientId: "wear-cold-target",
        password: `guess-${i}`,
      }),
    });
    await storm.after(STORM / 4);
    let tries = 0;
    let good = await connectOnce(port, { localAddress: "127.0.0.5", clientId: "wear-cold-target", password });
    // a device tries again after a refusal (CONNACK 3: server unavailable)
    while (good.code !== 0 && storm.isRunning) {
      tries++;
      await new Promise((r) => setTimeout(r, 200));
      good = await connectOnce(port, { localAddress: "127.0.0.5", clientId: "wear-cold-target", password });
    }
    const wasRunning = storm.isRunning;
    await storm.stop();
    tc.diagnostic(`device accepted after ${tries} refusals; storm ${JSON.stringify([...storm.outcomes])}`);
    assert.equal(good.code, 0, "the device is accepted");
    assert.ok(wasRunning, "…while the storm was still running");
    assert.equal(storm.outcomes.get(0) ?? 0, 0, "no guess accepted");
  });

  it("refuses an address that keeps failing at once, without verifying, with CONNACK 3", async () => {
    await t.provision("wear-storm-d");
    const codes: Array<number | "closed"> = [];
    const throttledBefore = refusals("auth_throttled");
    for (let i = 0; i < 8; i++) {
      const r = await connectOnce(port, {
        localAddress: "127.0.0.250",
        clientId: `nobody-${i}`,
        password: "x",
      });
      codes.push(r.code);
    }
    // five free failures (default authFreeFailures); the sixth closes the address for a second
    assert.deepEqual(codes, [4, 4, 4, 4, 4, 4, 3, 3]);
    assert.equal(refusals("auth_throttled") - throttledBefore, 2);
  });
});
