import { createServer } from "node:net";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { systemClock } from "../../src/clock.js";
import { aedesPublisher } from "../../src/drivers/mqtt/local-publisher.js";
import { createLogger } from "../../src/log.js";
import { Metrics } from "../../src/metrics.js";
import { DeliveryQueue } from "../../src/rules/sinks/delivery-queue.js";
import { MllpTransport } from "../../src/rules/sinks/mllp.js";
import { MqttAlertSink } from "../../src/rules/sinks/mqtt-sink.js";
import { WebhookTransport } from "../../src/rules/sinks/webhook.js";
import { startMllpReceiver, startWebhookReceiver } from "./receivers.js";
import {
  registerOutageConformanceTests,
  registerSinkConformanceTests,
  type SinkFixture,
} from "./sink-conformance.js";

const log = createLogger("silent");
const retry = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0.5, maxAgeSec: 3600 };

async function mqttFixture(): Promise<SinkFixture> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  const received: string[] = [];
  sub.on("message", (_t, p) => received.push(JSON.parse(p.toString()).event_id));
  await sub.subscribeAsync("vitalog/alerts/events", { qos: 1 });
  const sink = new MqttAlertSink({
    publisher: aedesPublisher(() => broker),
    topicPrefix: "vitalog/alerts",
    gatewayId: "test-gw",
    active: () => [],
    clock: systemClock,
    log,
  });
  return {
    sink,
    received: () => received,
    async close() {
      await sub.endAsync(true);
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

async function webhookFixture(): Promise<SinkFixture> {
  const rx = await startWebhookReceiver("s3cret");
  let isDown = false;
  const received: string[] = [];
  rx.setStatus((hit) => {
    if (isDown) return 503;
    received.push(hit.eventId);
    return 204;
  });
  const sink = new DeliveryQueue({
    name: "alerts_webhook",
    transport: new WebhookTransport({ url: rx.url, secret: "s3cret", timeoutMs: 2000, now: Date.now }),
    clock: systemClock,
    log,
    metrics: new Metrics(),
    retry,
    maxQueued: 1000,
  });
  return {
    sink,
    received: () => received,
    async receiverDown() {
      isDown = true;
    },
    async receiverUp() {
      isDown = false;
    },
    close: () => rx.close(),
  };
}

async function mllpFixture(): Promise<SinkFixture> {
  let rx = await startMllpReceiver();
  const port = rx.port;
  const received: string[] = [];
  const track = (r: typeof rx) =>
    r.setRespond((hit) => {
      received.push(/^OBR\|1\|/m.test(hit.message) ? eventIdOf(hit.message) : "?");
      return "AA";
    });
  track(rx);
  const sink = new DeliveryQueue({
    name: "alerts_mllp",
    transport: new MllpTransport({
      host: "127.0.0.1",
      port,
      ackTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      now: Date.now,
      hl7: {
        sendingApplication: "VITALOG",
        sendingFacility: "WARD7",
        receivingApplication: "AM",
        receivingFacility: "HOSP",
        processingId: "P",
        patientIdAuthority: "HOSP",
        pointOfCare: "WARD7",
        gatewayId: "test-gw",
      },
    }),
    clock: systemClock,
    log,
    metrics: new Metrics(),
    retry,
    maxQueued: 1000,
  });
  return {
    sink,
    received: () => received,
    async receiverDown() {
      await rx.close();
    },
    async receiverUp() {
      rx = await startMllpReceiver(port);
      track(rx);
    },
    close: () => rx.close(),
  };
}

/** The conformance suite tracks event ids; the MLLP control id is `<event_id>.<attempt seq>`. */
function eventIdOf(message: string): string {
  const msh = message.split("\r")[0]!.split("|");
  return msh[9]!.replace(/\.\d+$/, "");
}

registerSinkConformanceTests("MqttAlertSink", mqttFixture);
registerSinkConformanceTests("webhook (DeliveryQueue + WebhookTransport)", webhookFixture);
registerSinkConformanceTests("HL7 PCD-04 over MLLP (DeliveryQueue + MllpTransport)", mllpFixture);
registerOutageConformanceTests("webhook (DeliveryQueue + WebhookTransport)", webhookFixture);
registerOutageConformanceTests("HL7 PCD-04 over MLLP (DeliveryQueue + MllpTransport)", mllpFixture);
