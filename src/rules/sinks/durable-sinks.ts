/** Builds the configured durable sinks (webhook, HL7 PCD-04 over MLLP) on the shared delivery queue. */

import type { Clock } from "../../clock.js";
import { readSecretFile } from "../../config.js";
import type { WriteCommands } from "../../core/ports.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics.js";
import type { AlertSink } from "./alert-sink.js";
import type { AlertStore } from "./alert-store.js";
import { DeliveryQueue } from "./delivery-queue.js";
import { MllpTransport } from "./mllp.js";
import type { AlertsConfig } from "./sinks-config.js";
import { WebhookTransport } from "./webhook.js";

export function createDurableSinks(
  gw: {
    readonly clock: Clock;
    readonly metrics: Metrics;
    readonly gatewayId: string;
    readonly writes: WriteCommands;
  },
  alerts: AlertsConfig,
  store: AlertStore,
  log: Logger,
): AlertSink[] {
  const now = () => gw.clock.now();
  const sinks: AlertSink[] = [];
  const common = { clock: gw.clock, metrics: gw.metrics, outbox: { store, writes: gw.writes } };
  if (alerts.webhook) {
    const w = alerts.webhook;
    sinks.push(
      new DeliveryQueue({
        ...common,
        name: "alerts_webhook",
        log: log.child({ sink: "webhook" }),
        transport: new WebhookTransport({
          url: w.url,
          secret: readSecretFile(w.secretFile),
          timeoutMs: w.timeoutMs,
          now,
        }),
        retry: w.retry,
        maxQueued: w.maxQueued,
      }),
    );
  }
  if (alerts.mllp) {
    const m = alerts.mllp;
    sinks.push(
      new DeliveryQueue({
        ...common,
        name: "alerts_mllp",
        log: log.child({ sink: "mllp" }),
        transport: new MllpTransport({
          host: m.host,
          port: m.port,
          ackTimeoutMs: m.ackTimeoutMs,
          connectTimeoutMs: m.connectTimeoutMs,
          now,
          hl7: {
            sendingApplication: m.sendingApplication,
            sendingFacility: m.sendingFacility,
            receivingApplication: m.receivingApplication,
            receivingFacility: m.receivingFacility,
            processingId: m.processingId,
            patientIdAuthority: m.patientIdAuthority,
            pointOfCare: m.pointOfCare,
            gatewayId: gw.gatewayId,
          },
        }),
        retry: m.retry,
        maxQueued: m.maxQueued,
      }),
    );
  }
  return sinks;
}
