#!/usr/bin/env node
/**
 * The misbehaving devices of `bench:abuse`, in a process of their own so their CPU is not the bench's.
 * One shape per run, until SIGTERM; prints one JSON line of counts on exit.
 *
 *   node dist/bench/abuser.js --url mqtt://127.0.0.1:PORT --shape SHAPE --credentials FILE
 *
 * Shapes (the abuse a ward network sees from a broken or hostile device):
 * - reject-flood: 16 KiB plain-JSON packs of ~8,000 invalid entries, 4 in flight, QoS 1
 * - qos0-firehose: QoS 0 PUBLISHes written to a raw socket as fast as TCP takes them; the abuser first
 *   measures what it can offer at all into a discarding loopback socket (`capacity_msgs_per_s`)
 * - big-packs: SenML packs of 1,800 valid readings, 4 in flight, QoS 1
 * - deep: a plain-JSON payload nested 5,000 deep every 200 ms, QoS 1
 * - load: `--devices` devices at `--rate` readings/s in total, one SenML record per QoS 1 message
 */
import { readFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { parseArgs } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import mqttPacket from "mqtt-packet";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    shape: { type: "string" },
    credentials: { type: "string" },
    rate: { type: "string", default: "5000" },
  },
});
const url = new URL(values.url!);
const creds = JSON.parse(readFileSync(values.credentials!, "utf8")) as Array<{
  id: string;
  password: string;
}>;
const counts = { sent: 0, acked: 0, errors: 0, disconnects: 0, capacity_msgs_per_s: null as number | null };
let running = true;
const clients: MqttClient[] = [];

async function client(id: string, password: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(values.url!, {
    clientId: id,
    username: id,
    password,
    protocolVersion: 4,
    // a device the gateway disconnects (e.g. a packet over the size limit) comes back, as firmware does
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  c.on("close", () => counts.disconnects++);
  clients.push(c);
  return c;
}

/** Keeps `window` QoS 1 publishes of `body()` in flight, each sent when an earlier one is answered. */
function inFlight(c: MqttClient, topic: string, body: () => string, window: number): void {
  const next = () => {
    if (!running) return;
    counts.sent++;
    c.publish(topic, body(), { qos: 1 }, (err) => {
      if (err) counts.errors++;
      else counts.acked++;
      next();
    });
  };
  for (let i = 0; i < window; i++) next();
}

/** Messages per second that `batch` (of `perBatch` messages) can be written to a discarding loopback socket. */
async function firehoseCapacity(batch: Buffer, perBatch: number): Promise<number> {
  const sink = createServer((s) => s.on("data", () => {}).on("error", () => {}));
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", () => r()));
  const { port } = sink.address() as { port: number };
  const socket = netConnect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise((r) => socket.once("connect", r));
  let written = 0;
  let open = true;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (open) {
        written += perBatch;
        if (!socket.write(batch)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    setTimeout(() => {
      open = false;
      resolve();
    }, 1000);
    pump();
  });
  const rate = Math.round(written / ((performance.now() - t0) / 1000));
  socket.destroy();
  sink.close();
  return rate;
}

async function main(): Promise<void> {
  const [first] = creds;
  if (!first) throw new Error("no credentials");
  const topic = (id: string, format: string) => `vitalog/dev/${id}/${format}`;
  switch (values.shape) {
    case "reject-flood": {
      const c = await client(first.id, first.password);
      const body = `{"readings":[${Array(8180).fill("0").join(",")}]}`;
      inFlight(c, topic(first.id, "json"), () => body, 4);
      return;
    }
    case "big-packs": {
      const c = await client(first.id, first.password);
      let t = 0;
      // distinct relative times so every reading is a new one (relative times never de-duplicate anyway)
      const body = () =>
        JSON.stringify([
          { bn: `urn:dev:bench:${first.id}:`, n: "hr", u: "beat/min", v: 72, t: -(t++ % 1000) },
          ...Array.from({ length: 1799 }, (_, i) => ({
            n: "hr",
            u: "beat/min",
            v: 60 + (i % 40),
            t: -i / 100,
          })),
        ]);
      inFlight(c, topic(first.id, "senml"), body, 4);
      return;
    }
    case "deep": {
      const c = await client(first.id, first.password);
      const depth = 5000;
      const body = `{"readings":[{"kind":${"[".repeat(depth)}${"]".repeat(depth)},"value":1,"unit":"/min"}]}`;
      const tick = () => {
        if (!running) return;
        counts.sent++;
        c.publish(topic(first.id, "json"), body, { qos: 1 }, (err) => {
          if (err) counts.errors++;
          else counts.acked++;
        });
        setTimeout(tick, 200);
      };
      tick();
      return;
    }
    case "qos0-firehose": {
      // raw bytes: mqtt.js itself would be the bottleneck long before the gateway
      const socket = netConnect(Number(url.port), url.hostname);
      socket.setNoDelay(true);
      socket.on("close", () => counts.disconnects++);
      socket.on("error", () => {});
      socket.write(
        mqttPacket.generate({
          cmd: "connect",
          protocolId: "MQTT",
          protocolVersion: 4,
          clean: true,
          clientId: first.id,
          keepalive: 60,
          username: first.id,
          password: Buffer.from(first.password),
        }),
      );
      const one = mqttPacket.generate({
        cmd: "publish",
        topic: topic(first.id, "senml"),
        payload: Buffer.from(
          JSON.stringify([{ bn: `urn:dev:x:${first.id}:`, n: "hr", u: "beat/min", v: 72 }]),
        ),
        qos: 0,
        retain: false,
        dup: false,
      });
      const batch = Buffer.concat(Array(256).fill(one));
      // what this abuser can offer at all: the same writes for one second into a loopback socket that
      // reads and discards as fast as it can (the gateway then takes only what it chooses to read)
      counts.capacity_msgs_per_s = await firehoseCapacity(batch, 256);
      await new Promise((r) => setTimeout(r, 200)); // CONNACK
      const pump = () => {
        while (running && !socket.destroyed) {
          counts.sent += 256;
          if (!socket.write(batch)) {
            socket.once("drain", pump);
            return;
          }
        }
      };
      pump();
      return;
    }
    case "load": {
      // paced: every device sends its share of `rate` readings/s, one record per message
      const rate = Number(values.rate);
      const perDeviceHz = rate / creds.length;
      const periodMs = 1000 / perDeviceHz;
      for (const [i, d] of creds.entries()) {
        const c = await client(d.id, d.password);
        const start = performance.now() + (periodMs * i) / creds.length;
        let n = 0;
        const tick = () => {
          if (!running) return;
          const due = Math.floor((performance.now() - start) / periodMs) + 1;
          for (; n < due; n++) {
            counts.sent++;
            const body = JSON.stringify([{ bn: `urn:dev:bench:${d.id}:`, n: "hr", u: "beat/min", v: 72 }]);
            c.publish(topic(d.id, "senml"), body, { qos: 1 }, (err) => {
              if (err) counts.errors++;
              else counts.acked++;
            });
          }
        };
        setInterval(tick, Math.max(1, Math.floor(periodMs / 2)));
      }
      return;
    }
    default:
      throw new Error(`unknown shape ${values.shape}`);
  }
}

let startedAt = performance.now();
const stop = () => {
  running = false;
  const seconds = (performance.now() - startedAt) / 1000;
  // offered: what the abuser managed to hand to TCP (a gateway that stops reading slows it down)
  const rate = Math.round(counts.sent / seconds);
  process.stdout.write(`${JSON.stringify({ ...counts, seconds, offered_msgs_per_s: rate })}\n`);
  for (const c of clients) c.end(true);
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
main().then(
  () => {
    startedAt = performance.now();
    process.stdout.write('{"ready":true}\n');
  },
  (err) => {
    process.stderr.write(`abuser: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
