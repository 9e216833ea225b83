/**
 * A vendor MQTT definition whose decoder gives a catalogued reason that is not a decoder's (rejection-reasons.ts
 * `DECODER_ORIGINS`): a real gateway (real broker on loopback, real SQLite) must not store or count it under
 * that reason, whose catalogued meaning is something else (`subject_erased`: the subject's record is gone;
 * `rate_limited_messages`: not stored, not acknowledged). It is a decoder bug: stored, counted and told to the
 * device as `decoder_bug`, the detail naming the reason given. The vendor's own reasons and the catalog's
 * decoder reasons keep theirs.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { Gateway } from "../../../src/app/gateway.js";
import { systemClock } from "../../../src/clock.js";
import { parseConfig } from "../../../src/config.js";
import { defineMqttDevice, utf8Hex } from "../../../src/drivers/mqtt-definition.js";
import { DecodeError, type DecodeResult } from "../../../src/drivers/sdk.js";
import { createLogger } from "../../../src/log.js";
import { tempDir, waitFor } from "../../helpers/gateway.js";

/**
 * A text format: `throw:<reason>` refuses the whole payload with that reason; `part:<reason>` returns one
 * reading and refuses one part with that reason; anything else is a heart rate.
 */
const echoReasons = defineMqttDevice({
  vendor: "Acme",
  model: "Reason echo",
  sdkVersion: "^1.2.0",
  match: { transport: "mqtt", topic: "acme_echo" },
  mqtt: {
    decode: (bytes): DecodeResult => {
      const text = new TextDecoder().decode(bytes);
      const [verb, reason] = text.split(":");
      if (verb === "throw") throw new DecodeError(reason!, `refused as ${reason}`);
      const readings = [{ kind: "heart_rate" as const, value: 70, unit: "/min" }];
      const rejected = verb === "part" ? [{ reason: reason!, detail: `part refused as ${reason}` }] : [];
      return { readings, absent: [], conditions: [], rejected, details: undefined };
    },
    examples: [utf8Hex("72")],
  },
});

describe("a vendor decoder giving a catalogued reason that is not a decoder's", () => {
  let dir: string;
  let gw: Gateway;
  const clients: MqttClient[] = [];
  /** What each device read on its `rejected` topic. */
  const notices = new Map<string, Array<{ reason: string; detail: string }>>();

  before(async () => {
    dir = tempDir("vitalog-reason-collision-");
    const stateDir = join(dir, "state");
    mkdirSync(stateDir, { mode: 0o700 });
    const config = parseConfig(
      {
        gateway: { id: "gw-r", origin: "test.vitalog.invalid/gw/gw-r", stateDir },
        mqtt: { port: 0 },
        admin: { port: 0 },
        log: { level: "silent" },
      },
      dir,
    );
    gw = await Gateway.start(config, {
      log: createLogger("silent"),
      clock: systemClock,
      definitions: [{ definition: echoReasons, origin: "@acme/echo" }],
    });
    // one device per test: a stored sample per device and reason is rate-limited (rejection-sampler.ts)
    for (const id of ["echo-1", "echo-2"]) {
      await gw.registry.add({ id, subjectId: `pt-${id}`, password: `${id}-password` }, Date.now());
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqtt.port}`, {
        clientId: id,
        username: id,
        password: `${id}-password`,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      clients.push(client);
      notices.set(id, []);
      await client.subscribeAsync(`vitalog/dev/${id}/rejected`);
      client.on("message", (_topic, payload) => notices.get(id)!.push(JSON.parse(payload.toString())));
    }
  });

  after(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Resolves on the PUBACK: a stored refusal is durable by then. */
  const publish = (id: string, text: string) =>
    clients[id === "echo-1" ? 0 : 1]!.publishAsync(`vitalog/dev/${id}/acme_echo`, text, { qos: 1 });
  const counted = (id: string, reason: string) =>
    gw.metrics.value("vitalog_rejections_total", { device: id, reason });
  const lastStored = (id: string) => gw.store.rejections(id).at(-1);

  it("stores, counts and tells a DecodeError with subject_erased or rate_limited_messages as decoder_bug, once acknowledged", async () => {
    await publish("echo-1", "throw:subject_erased");
    assert.equal(lastStored("echo-1")?.reason, "decoder_bug");
    assert.match(lastStored("echo-1")!.detail, /subject_erased is the catalog's \(ingest\), not a decoder's/);
    await publish("echo-1", "throw:rate_limited_messages");
    assert.equal(lastStored("echo-1")?.reason, "decoder_bug");
    assert.match(lastStored("echo-1")!.detail, /rate_limited_messages is the catalog's \(admission\)/);
    assert.equal(counted("echo-1", "decoder_bug"), 2);
    assert.equal(counted("echo-1", "subject_erased"), 0);
    assert.equal(counted("echo-1", "rate_limited_messages"), 0);
    await waitFor(() => notices.get("echo-1")!.length === 2, 5000, "two rejected messages");
    assert.deepEqual(
      notices.get("echo-1")!.map((n) => n.reason),
      ["decoder_bug", "decoder_bug"],
    );
  });

  it("treats a decoder's own decoder_bug as a bug too, and keeps a reason of the vendor's or of a decoder's origin", async () => {
    await publish("echo-1", "throw:decoder_bug");
    assert.match(lastStored("echo-1")!.detail, /decoder_bug is the catalog's \(decode\), not a decoder's/);
    await publish("echo-1", "throw:acme_lead_off");
    assert.equal(lastStored("echo-1")?.reason, "acme_lead_off");
    await publish("echo-1", "throw:payload_malformed_json");
    assert.equal(lastStored("echo-1")?.reason, "payload_malformed_json");
    assert.equal(counted("echo-1", "decoder_bug"), 3);
    assert.equal(counted("echo-1", "acme_lead_off"), 1);
    assert.equal(counted("echo-1", "payload_malformed_json"), 1);
  });

  it("stores a refused part with a reason that is not a decoder's as decoder_bug and keeps the frame's reading", async () => {
    await publish("echo-2", "part:binding_changed");
    assert.equal(gw.store.count("echo-2"), 1, "the frame's reading is stored");
    assert.equal(lastStored("echo-2")?.reason, "decoder_bug");
    assert.match(
      lastStored("echo-2")!.detail,
      /binding_changed is the catalog's \(ingest\).*part refused as/,
    );
    assert.equal(counted("echo-2", "decoder_bug"), 1);
    assert.equal(counted("echo-2", "binding_changed"), 0);
    await publish("echo-2", "part:unknown_vital");
    assert.equal(gw.store.count("echo-2"), 2);
    assert.equal(lastStored("echo-2")?.reason, "unknown_vital");
    assert.equal(counted("echo-2", "unknown_vital"), 1);
    await waitFor(() => notices.get("echo-2")!.length === 2, 5000, "two rejected messages");
    assert.deepEqual(
      notices.get("echo-2")!.map((n) => n.reason),
      ["decoder_bug", "unknown_vital"],
    );
  });
});
