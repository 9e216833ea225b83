/**
 * How a CLI command reaches the running daemon's alarm commands (rules/commands.ts).
 *
 * {@link sendCliAlertAction}: on the gateway host, through the local control socket (owner-only, 0600), as
 * the `alert_action` op: recorded `via: "cli"`. What `vitalog alerts ack|silence` uses.
 *
 * {@link sendAlertCommand}: the way a nurse station does, as an alert consumer over MQTT (loopback),
 * authenticated with that consumer's password file from the config, and waits for the reply: recorded `via`
 * that consumer. What `vitalog alerts … --as CONSUMER` and `vitalog observe` use. Whoever can read the
 * consumer's secret file may act as it; the person is always named with --by.
 * With the plain listener disabled (`mqtt.plain: false`) it uses the TLS listener, trusting exactly the
 * gateway's own certificate (`mqtt.tls.certFile`).
 */
import { randomUUID, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import mqtt, { type IClientOptions } from "mqtt";
import { type Config, readSecretFile } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import { GatewayError } from "../errors.js";
import { ALERT_ACTION_OP, type CommandReply } from "../rules/commands.js";
import type { CommandVerb } from "../rules/sinks/consumers.js";

const REPLY_TIMEOUT_MS = 10_000;

/**
 * Acknowledges or silences through the local control socket; resolves the daemon's reply (`{ ok: true, alert,
 * … }` or `{ ok: false, error, detail }`). Throws CONTROL_FAILED when no daemon runs on the state directory:
 * an alarm lives in the running daemon, and nothing else can answer it.
 */
export async function sendCliAlertAction(
  config: Readonly<Config>,
  verb: "ack" | "silence",
  body: Record<string, unknown>,
): Promise<Record<string, unknown> & { ok: boolean }> {
  const reply = await controlRequest(
    config.gateway.stateDir,
    ALERT_ACTION_OP,
    { ...body, command: verb },
    REPLY_TIMEOUT_MS,
  );
  if (reply === undefined)
    throw new GatewayError(
      "CONTROL_FAILED",
      `no gateway is running on ${config.gateway.stateDir}: alarms are answered on the running daemon`,
    );
  return reply;
}

export async function sendAlertCommand(
  config: Readonly<Config>,
  verb: CommandVerb,
  body: Record<string, unknown>,
  consumerId: string | undefined,
): Promise<CommandReply> {
  const needs = verb === "observe" ? "canObserve" : "canAcknowledge";
  const consumer = config.alerts.consumers.find((c) => (consumerId ? c.id === consumerId : c[needs]));
  if (!consumer) {
    throw new GatewayError(
      "USAGE",
      consumerId
        ? `no consumer ${consumerId} in alerts.consumers`
        : `no consumer with ${needs}: true in alerts.consumers (the CLI acts as one)`,
    );
  }
  const { url, tls } = brokerEndpoint(config);
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(url, {
      clientId: `${consumer.id}/cli-${randomUUID().slice(0, 8)}`,
      username: consumer.id,
      password: readSecretFile(consumer.passwordFile),
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...tls,
    });
  } catch (cause) {
    throw new GatewayError("SINK_UNAVAILABLE", `gateway MQTT not reachable as ${consumer.id}`, { cause });
  }
  try {
    const prefix = config.alerts.mqtt.commandPrefix;
    const requestId = randomUUID();
    const reply = new Promise<CommandReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new GatewayError("SINK_UNAVAILABLE", "no reply from the gateway")),
        REPLY_TIMEOUT_MS,
      );
      client.on("message", (_topic, payload) => {
        const r = JSON.parse(payload.toString()) as CommandReply;
        if (r.request_id !== requestId) return;
        clearTimeout(timer);
        resolve(r);
      });
    });
    await client.subscribeAsync(`${prefix}/${consumer.id}/result`, { qos: 1 });
    await client.publishAsync(`${prefix}/${verb}`, JSON.stringify({ ...body, request_id: requestId }), {
      qos: 1,
    });
    return await reply;
  } finally {
    await client.endAsync(true).catch(() => {});
  }
}

/** The listener the CLI reaches the daemon on: the plain one, else the TLS one pinned to the gateway's certificate. */
function brokerEndpoint(config: Readonly<Config>): { url: string; tls: IClientOptions } {
  const loopback = (host: string) => {
    const h = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
    return h.includes(":") ? `[${h}]` : h;
  };
  if (config.mqtt.plain) return { url: `mqtt://${loopback(config.mqtt.host)}:${config.mqtt.port}`, tls: {} };
  const tls = config.mqtt.tls;
  if (!tls)
    throw new GatewayError(
      "USAGE",
      "mqtt.plain is false and there is no mqtt.tls: no MQTT listener to reach",
    );
  if (tls.requireClientCert) {
    throw new GatewayError(
      "USAGE",
      "mqtt.plain is false and mqtt.tls.requireClientCert is true: the CLI has no client certificate; " +
        "enable the plain listener on loopback (mqtt.plain: true, mqtt.host: 127.0.0.1) for local commands",
    );
  }
  const cert = readFileSync(tls.certFile);
  const pinned = new X509Certificate(cert).fingerprint256;
  const options: IClientOptions & Pick<ConnectionOptions, "checkServerIdentity"> = {
    ca: tls.caFile ? [cert, readFileSync(tls.caFile)] : [cert],
    rejectUnauthorized: true,
    // reached on loopback, so no name in the certificate would match: the certificate itself must
    checkServerIdentity: (_host, peer) =>
      peer.fingerprint256 === pinned
        ? undefined
        : new Error("the TLS listener's certificate is not mqtt.tls.certFile"),
  };
  return { url: `mqtts://${loopback(tls.host)}:${tls.port}`, tls: options };
}
