/**
 * A real gateway (real broker on loopback, real SQLite file, log on) for the attribution tests, with a
 * nurse station consumer, the config file the CLI uses to reach it, and predictable alert ids on demand
 * (`nextAlertIds`: the ids the next alerts get, in order; random UUIDs otherwise), so that two alerts can
 * share a prefix.
 */
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import mqtt, { type MqttClient } from "mqtt";
import { Gateway } from "../../src/app/gateway.js";
import { systemClock } from "../../src/clock.js";
import { parseConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { tempDir, waitFor, writeSecret } from "../helpers/gateway.js";

export const STATION = "station-1";
const ORIGIN = "test.vitalog.invalid/gw/attr-gw";

export interface AttributionGateway {
  gw: Gateway;
  dir: string;
  /** The config file of the CLI commands (same database, keys and broker as the gateway). */
  configFile: string;
  nextAlertIds: string[];
  station(): Promise<Station>;
  /**
   * Provisions and connects a device; `send` publishes one plain JSON reading, `publish` a plain JSON body
   * (QoS 1: they resolve after the commit).
   */
  device(id: string): Promise<{
    send(kind: string, value: number, unit: string): Promise<void>;
    publish(body: Record<string, unknown>): Promise<void>;
  }>;
  close(): Promise<void>;
}

export interface Station {
  events: AlertMessage[];
  next(pred: (m: AlertMessage) => boolean, what?: string): Promise<AlertMessage>;
  command(verb: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Runs a CLI command in-process; resolves its exit status and what it printed. */
export async function runCli(
  command: (argv: string[], out: NodeJS.WritableStream) => Promise<number>,
  argv: string[],
): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => {
    text += d.toString();
  });
  const code = await command(argv, out);
  return { code, text };
}

export async function startAttributionGateway(): Promise<AttributionGateway> {
  const dir = tempDir("vitalog-attribution-");
  const passwordFile = writeSecret(dir, "station.pw", "station-pw");
  const consumers = [{ id: STATION, passwordFile, canAcknowledge: true, canObserve: true }];
  const config = parseConfig(
    {
      gateway: { id: "attr-gw", origin: ORIGIN, stateDir: dir },
      mqtt: { port: 0 },
      admin: { port: 0 },
      log: { level: "silent" },
      alerts: { consumers },
    },
    dir,
  );
  const nextAlertIds: string[] = [];
  const gw = await Gateway.start(config, {
    log: createLogger("silent"),
    clock: systemClock,
    newAlertId: () => nextAlertIds.shift() ?? randomUUID(),
  });
  const url = `mqtt://127.0.0.1:${gw.mqtt.port}`;
  const configFile = join(dir, "cli.yaml");
  writeFileSync(
    configFile,
    [
      `gateway: { id: attr-gw, origin: ${ORIGIN}, stateDir: ${dir} }`,
      `mqtt: { host: 127.0.0.1, port: ${gw.mqtt.port} }`,
      `storage: { path: ${config.storage.path} }`,
      "alerts:",
      "  consumers:",
      `    - { id: ${STATION}, passwordFile: ${passwordFile}, canAcknowledge: true, canObserve: true }`,
    ].join("\n"),
  );
  const clients: MqttClient[] = [];
  const connect = async (clientId: string, username: string, password: string) => {
    const c = await mqtt.connectAsync(url, { clientId, username, password, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  };
  let requests = 0;
  return {
    gw,
    dir,
    configFile,
    nextAlertIds,
    async station() {
      const client = await connect(`${STATION}/screen-${clients.length}`, STATION, "station-pw");
      const events: AlertMessage[] = [];
      const results = new Map<string, Record<string, unknown>>();
      client.on("message", (topic, payload) => {
        const body = JSON.parse(payload.toString());
        if (topic === "vitalog/alerts/events") events.push(body);
        else if (topic.endsWith("/result")) results.set(String(body.request_id), body);
      });
      await client.subscribeAsync("vitalog/alerts/events", { qos: 1 });
      await client.subscribeAsync(`vitalog/cmd/${STATION}/result`, { qos: 1 });
      return {
        events,
        async next(pred, what = "alert event") {
          await waitFor(() => events.some(pred), 10_000, what);
          return events.find(pred)!;
        },
        async command(verb, body) {
          const request_id = `attr-${++requests}`;
          await client.publishAsync(`vitalog/cmd/${verb}`, JSON.stringify({ ...body, request_id }), {
            qos: 1,
          });
          await waitFor(() => results.has(request_id), 10_000, `the reply to ${verb}`);
          return results.get(request_id)!;
        },
      };
    },
    async device(id) {
      const password = `pw-${id}-secret`;
      await gw.registry.add({ id, subjectId: `pt-${id}`, password }, Date.now());
      const client = await connect(id, id, password);
      const publish = async (body: Record<string, unknown>) => {
        await client.publishAsync(`vitalog/dev/${id}/json`, JSON.stringify(body), { qos: 1 });
      };
      return {
        publish,
        send: (kind, value, unit) => publish({ readings: [{ kind, value, unit }] }),
      };
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
