/**
 * Alert receivers that hang, answer garbage, stream endless bytes, reset or refuse connections, while
 * devices publish and alerts fire. Ingest does not wait for them (a bystander loses nothing), alerts are
 * still delivered on MQTT at once, the outage shows as a technical alarm and on /healthz, and once the
 * receivers are back every alert reaches them [DESIGN.md "Alerts do not wait"; IEC 60601-1-8 §6.11].
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type AddressInfo, createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { Bystander, httpGet, IN_PROCESS_INGEST, storedDeviceTimes } from "../helpers/adversary.js";
import { tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { listenAgain, withFreshPort } from "../helpers/ports.js";
import { type AlertTestGateway, type Station, startAlertGateway } from "../rules/alert-helpers.js";
import { hl7Field, startMllpReceiver, startWebhookReceiver } from "../rules/receivers.js";

const SECRET = "whsec-adversarial-0123456789";
type Mode = "hang" | "garbage" | "endless" | "reset" | "refuse" | "proxy";
const OUTAGE: Mode[] = ["hang", "garbage", "endless", "reset", "refuse"];
const PHASE_MS = 2500;

/**
 * A TCP front for a real receiver that misbehaves as told: never answers, answers `garbage()`, streams
 * bytes without end, resets, refuses connections (not listening), or passes everything through.
 */
class HostileFront {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #mode: Mode = "proxy";
  connections = 0;

  private constructor(
    server: Server,
    readonly port: number,
  ) {
    this.#server = server;
  }

  static async start(
    upstreamPort: number,
    garbage: () => Buffer,
    endlessChunk: Buffer,
  ): Promise<HostileFront> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const front = new HostileFront(server, (server.address() as AddressInfo).port);
    server.on("connection", (socket) => front.#accept(socket, upstreamPort, garbage, endlessChunk));
    return front;
  }

  get mode(): Mode {
    return this.#mode;
  }

  async setMode(mode: Mode): Promise<void> {
    if (mode === this.#mode) return;
    if (mode === "refuse") {
      // a receiver that went away: its connections go with it
      const closed = new Promise<void>((r) => this.#server.close(() => r()));
      for (const s of this.#sockets) s.destroy();
      await closed;
    }
    // back on its port (the gateway is configured with it), which another process may have taken meanwhile
    if (this.#mode === "refuse") await listenAgain(this.#server, this.port, "hostile receiver front");
    this.#mode = mode;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (this.#mode !== "refuse") await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #accept(socket: Socket, upstreamPort: number, garbage: () => Buffer, endlessChunk: Buffer): void {
    this.connections++;
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => {});
    const mode = this.#mode;
    if (mode === "proxy") {
      const up = netConnect(upstreamPort, "127.0.0.1");
      up.on("error", () => socket.destroy());
      socket.on("close", () => up.destroy());
      up.on("close", () => socket.destroy());
      socket.pipe(up).pipe(socket);
      return;
    }
    socket.once("data", () => {
      if (mode === "garbage") socket.end(garbage());
      else if (mode === "reset") socket.resetAndDestroy();
      else if (mode === "endless") {
        // up to 16 MiB without a frame or header end, at the pace the gateway reads it
        let left = 16 * 1024 * 1024;
        const pump = () => {
          while (left > 0 && !socket.destroyed) {
            left -= endlessChunk.length;
            if (!socket.write(endlessChunk)) {
              socket.once("drain", pump);
              return;
            }
          }
        };
        pump();
      }
      // hang: read and never answer
    });
    socket.resume();
  }
}

describe("hostile alert receivers while devices publish (real broker, real SQLite, real HTTP and MLLP)", () => {
  let t: AlertTestGateway;
  let web: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let am: Awaited<ReturnType<typeof startMllpReceiver>>;
  let webFront: HostileFront;
  let amFront: HostileFront;
  let adminPort: number;
  let by: Bystander | undefined;

  before(async () => {
    web = await startWebhookReceiver(SECRET);
    am = await startMllpReceiver();
    webFront = await HostileFront.start(
      Number(new URL(web.url).port),
      () => Buffer.concat([Buffer.from("HTTP/1.1 2\u0000\u00ff OK\r\n"), randomBytes(2048)]),
      Buffer.alloc(64 * 1024, "X-Garbage: y\r\n"),
    );
    amFront = await HostileFront.start(
      am.port,
      // a well-formed ACK for a message that was never sent, then noise
      () =>
        Buffer.concat([
          Buffer.from(
            "\u000bMSH|^~\\&|AM|HOSP|VITALOG||20260101000000+0000||ACK^R40^ACK|x|P|2.6\rMSA|AA|not-a-control-id\u001c\r",
          ),
          randomBytes(2048),
        ]),
      Buffer.concat([Buffer.from("\u000b"), Buffer.alloc(64 * 1024, "A")]),
    );
    const dir = tempDir("vitalog-adv-sinks-");
    const retry = { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.5 };
    t = await withFreshPort((port) =>
      startAlertGateway({
        admin: { port },
        ingest: IN_PROCESS_INGEST,
        alerts: {
          webhook: {
            url: `http://127.0.0.1:${webFront.port}/alerts`,
            secretFile: writeSecret(dir, "webhook.key", SECRET),
            timeoutMs: 300,
            retry,
          },
          mllp: {
            host: "127.0.0.1",
            port: amFront.port,
            sendingFacility: "WARD7",
            pointOfCare: "WARD7",
            ackTimeoutMs: 300,
            connectTimeoutMs: 300,
            retry,
          },
          sinkDownAlarmSec: 0.5,
        },
      }),
    );
    adminPort = t.gw.adminPort;
  });
  after(async () => {
    await by?.end();
    await t?.close();
    await webFront?.close();
    await amFront?.close();
    await web?.close();
    await am?.close();
  });

  it("keeps ingest and MQTT alerting going, raises the sink-down alarm and health, and delivers everything once the receivers are back", async (tc) => {
    by = (await Bystander.connect(t.url, "bystander-1", await t.provision("bystander-1"))).start(50);
    const station: Station = await t.station();
    const raised: AlertMessage[] = [];
    let n = 0;
    const raise = async () => {
      const id = `cuff-${++n}`;
      const dev = await t.device(id);
      await dev.send("bp_systolic", 60, "mm[Hg]");
      raised.push(
        await station.next((m) => m.transition === "raise" && m.device_id === id, `raise for ${id}`),
      );
    };

    for (const mode of OUTAGE) {
      await webFront.setMode(mode);
      await amFront.setMode(mode);
      const phaseEnd = Date.now() + PHASE_MS;
      // alerts raised while the receivers misbehave still reach the nurse station over MQTT
      await raise();
      await raise();
      while (Date.now() < phaseEnd) await new Promise((r) => setTimeout(r, 50));
    }
    // by now both sinks have failed for longer than sinkDownAlarmSec
    const sinkDown = await station.next(
      (m) => m.rule_id === "technical.alert_sink_down" && m.transition === "raise",
      "technical.alert_sink_down on MQTT",
    );
    assert.equal(sinkDown.category, "technical");
    const health = await httpGet(`http://127.0.0.1:${adminPort}/healthz`);
    assert.equal(health.status, 503, "/healthz is failing while alert delivery fails");
    assert.match(health.body, /^alert_sinks: /m);

    await webFront.setMode("proxy");
    await amFront.setMode("proxy");
    await raise();
    // every alert event, the outage's included, reaches both receivers once they answer again
    const outbox = () =>
      t.gw.db.prepare("SELECT sink, event_id, delivered_at_ms, dead_at_ms FROM alert_outbox").all() as Array<{
        sink: string;
        event_id: string;
        delivered_at_ms: number | null;
        dead_at_ms: number | null;
      }>;
    await waitFor(
      () => outbox().every((r) => r.delivered_at_ms !== null),
      30_000,
      "every outbox row delivered",
    );
    assert.deepEqual(
      outbox().filter((r) => r.dead_at_ms !== null),
      [],
      "nothing dead-lettered: garbage is not a refusal",
    );
    for (const m of raised) {
      assert.ok(
        web.hits.some((h) => h.eventId === m.event_id && h.isSignatureValid),
        `webhook got ${m.device_id}'s alert`,
      );
      assert.ok(
        am.hits.some((h) => hl7Field(h.message, "OBR", 3)?.startsWith(m.alert_id) ?? false),
        `MLLP got ${m.device_id}'s alert`,
      );
    }
    await waitFor(
      () => t.gw.health.problems().every((p) => p.check !== "alert_sinks"),
      10_000,
      "alert_sinks healthy again",
    );
    tc.diagnostic(
      `${raised.length} alerts; connections: webhook front ${webFront.connections}, MLLP front ${amFront.connections}`,
    );

    await by.stop();
    by.assertIntact(storedDeviceTimes(t.gw.db, by.id));
    tc.diagnostic(by.summary());
  });
});
