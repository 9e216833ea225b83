/**
 * Sends one command to the running daemon the way a nurse station does: as an alert consumer over MQTT
 * (loopback), authenticated with that consumer's password file from the config, and waits for the reply.
 * Whoever can read the consumer's secret file may act as it; the person is always named with --by.
 */
import { randomUUID } from "node:crypto";
import mqtt from "mqtt";
import { type Config, readSecretFile } from "../config.js";
import { GatewayError } from "../errors.js";
import type { CommandReply } from "../rules/commands.js";
import type { CommandVerb } from "../rules/sinks/consumers.js";

const REPLY_TIMEOUT_MS = 10_000;

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
  const host = config.mqtt.host === "0.0.0.0" ? "127.0.0.1" : config.mqtt.host;
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(
      `mqtt://${host.includes(":") ? `[${host}]` : host}:${config.mqtt.port}`,
      {
        clientId: `${consumer.id}/cli-${randomUUID().slice(0, 8)}`,
        username: consumer.id,
        password: readSecretFile(consumer.passwordFile),
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      },
    );
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
