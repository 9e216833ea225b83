/**
 * Pre-authentication memory: a gateway in a child process (its RSS is its own) attacked the way it used to
 * fall over, by clients that announce a 256 MiB packet and stream it in, before CONNECT and after it. Each
 * connection must be closed at the header, long before the body could have arrived, and the gateway's
 * resident memory must not grow by anything like what was announced.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parsePrometheus, sampleSum } from "../helpers/adversary-child.js";
import { spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";
import { withFreshPort } from "../helpers/ports.js";
import { closed, connectOnce, rawSocket, remainingLength } from "./connect-storm.js";

const MIB = 1024 * 1024;
/** [MQTT 3.1.1 §2.2.3] the largest remaining length there is */
const ANNOUNCED = 268_435_455;
const CHUNK = Buffer.alloc(64 * 1024, 0x41);

/** Writes `header`, then body bytes as fast as the socket takes them until it closes; returns what it took. */
async function announceAndStream(socket: import("node:net").Socket, header: Buffer): Promise<number> {
  let written = 0;
  const isClosed = closed(socket).then(() => true);
  socket.write(header);
  while (!socket.destroyed && written < ANNOUNCED) {
    written += CHUNK.length;
    if (!socket.write(CHUNK)) {
      const drained = new Promise<boolean>((resolve) => socket.once("drain", () => resolve(false)));
      if (await Promise.race([drained, isClosed])) break;
    }
  }
  await isClosed;
  return written;
}

describe("pre-authentication memory (child-process gateway, raw sockets)", () => {
  let dir: string;
  let mqttPort: number;
  let adminPort: number;
  let child: import("node:child_process").ChildProcess;
  const rss = () =>
    Number(/^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) * 1024;
  const metric = async (reason: string) => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    return sampleSum(parsePrometheus(await res.text()), "vitalog_mqtt_refusals_total", { reason });
  };

  before(async () => {
    dir = tempDir("vitalog-preauth-mem-");
    mkdirSync(join(dir, "state"), { mode: 0o700 });
    const passwordFile = writeSecret(dir, "wear-mem.pw", "pw-wear-mem");
    const file = join(dir, "vitalog.yaml");
    // MQTT on port 0, named in the "ready" line; the admin HTTP (port 0 = off) on a fresh port, retried if taken
    ({ child, mqttPort, adminPort } = await withFreshPort((port) => {
      const config = {
        gateway: { id: "mem-gw", origin: "test.vitalog.invalid/gw/mem-gw", stateDir: join(dir, "state") },
        mqtt: { host: "127.0.0.1", port: 0 },
        admin: { host: "127.0.0.1", port },
        log: { level: "info" },
        storage: { synchronous: "normal" },
        devices: [{ id: "wear-mem", subject: "pt-mem", passwordFile }],
      };
      writeFileSync(file, JSON.stringify(config));
      return spawnGateway(file);
    }));
  });
  after(async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await waitExit(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it("closes 256 MiB announcements at their header, before CONNECT and after, without taking the memory", async (tc) => {
    const before = {
      tooLarge: await metric("packet_too_large"),
      notConnect: await metric("protocol_violation"),
    };
    const baseline = rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss());
    }, 10);
    const preConnect = (first: number) => Buffer.concat([Buffer.from([first]), remainingLength(ANNOUNCED)]);
    const attacks: Array<Promise<number>> = [];
    for (let i = 0; i < 4; i++) {
      // a CONNECT too large to be one, and a PUBLISH with no CONNECT at all
      attacks.push(
        rawSocket(mqttPort, `127.0.0.${100 + i}`).then((s) => announceAndStream(s, preConnect(0x10))),
      );
      attacks.push(
        rawSocket(mqttPort, `127.0.0.${110 + i}`).then((s) => announceAndStream(s, preConnect(0x30))),
      );
    }
    for (let i = 0; i < 2; i++) {
      const r = await connectOnce(
        mqttPort,
        { localAddress: `127.0.0.${120 + i}`, clientId: "wear-mem", password: "pw-wear-mem", keepalive: 0 },
        true,
      );
      assert.equal(r.code, 0, "the device authenticates");
      attacks.push(announceAndStream(r.socket!, preConnect(0x32)));
    }
    const written = await Promise.all(attacks);
    clearInterval(sampler);
    peak = Math.max(peak, rss());
    const announced = attacks.length * ANNOUNCED;
    tc.diagnostic(
      `announced ${(announced / MIB).toFixed(0)} MiB; the sockets took ${(written.reduce((a, b) => a + b, 0) / MIB).toFixed(1)} MiB before being closed; RSS ${(baseline / MIB).toFixed(0)} → peak ${(peak / MIB).toFixed(0)} MiB`,
    );
    for (const w of written)
      assert.ok(w < 16 * MIB, `closed after ${(w / MIB).toFixed(1)} MiB of ${ANNOUNCED / MIB} MiB`);
    assert.ok(peak - baseline < 64 * MIB, `RSS grew by ${((peak - baseline) / MIB).toFixed(0)} MiB`);
    assert.equal((await metric("packet_too_large")) - before.tooLarge, 6);
    assert.equal((await metric("protocol_violation")) - before.notConnect, 4);
    assert.equal(child.exitCode, null, "the gateway is still running");
  });
});
