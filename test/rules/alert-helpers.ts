/** Helpers for the alerting integration tests: a gateway with nurse-station consumers, stations, devices. */
import { rmSync } from "node:fs";
import mqtt, { type MqttClient } from "mqtt";
import { systemClock } from "../../src/clock.js";
import type { ConfigInput } from "../../src/config.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { startTestGateway, type TestGateway, tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { addUsers, type TestUser } from "../helpers/users.js";

export const STATION = "station-1";
export const WALL = "wall-screen";
/** The people the alerting tests act as: known to every gateway these helpers start (`vitalog users add`). */
export const TEST_USERS: readonly TestUser[] = [
  { id: "nurse.jane", role: "nurse" },
  { id: "nurse.amy", role: "nurse" },
  { id: "nurse.kim", role: "nurse" },
  { id: "dr.who", role: "clinician" },
  // who provisions devices and erases subjects from the CLI (users/roles.ts)
  { id: "clin.eng", role: "clinical_engineer" },
  { id: "dpo.kate", role: "admin" },
];

export interface AlertTestGateway extends TestGateway {
  secrets: string;
  stationPassword: string;
  /** Connects a consumer and collects what arrives on `vitalog/alerts/events`. */
  station(id?: string, password?: string): Promise<Station>;
  /** Provisions, connects and returns a device that publishes plain JSON readings. */
  device(id: string): Promise<{
    client: MqttClient;
    send(kind: string, value: number, unit: string, qos?: 0 | 1): Promise<void>;
  }>;
}

export interface Station {
  client: MqttClient;
  events: AlertMessage[];
  results: Record<string, unknown>[];
  /** Waits for an event matching `pred`. */
  next(pred: (m: AlertMessage) => boolean, what?: string): Promise<AlertMessage>;
  command(verb: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export async function startAlertGateway(
  overrides: Partial<ConfigInput> = {},
  options: { busyGiveUpMs?: number } = {},
): Promise<AlertTestGateway> {
  const secrets = tempDir("vitalog-alert-secrets-");
  const stationPassword = "station-pw-1";
  const consumers = [
    {
      id: STATION,
      passwordFile: writeSecret(secrets, "station.pw", stationPassword),
      canAcknowledge: true,
      canObserve: true,
    },
    { id: WALL, passwordFile: writeSecret(secrets, "wall.pw", "wall-pw") },
  ];
  const alerts = (overrides.alerts ?? {}) as Record<string, unknown>;
  const t = await startTestGateway({ ...overrides, alerts: { consumers, ...alerts } }, systemClock, options);
  await addUsers(t.gw.config, TEST_USERS);
  let reqs = 0;
  return {
    ...t,
    secrets,
    stationPassword,
    async station(id = STATION, password = stationPassword) {
      const client = await mqtt.connectAsync(t.url, {
        clientId: id,
        username: id,
        password,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      const events: AlertMessage[] = [];
      const results: Record<string, unknown>[] = [];
      client.on("message", (topic, payload) => {
        if (topic === "vitalog/alerts/events") events.push(JSON.parse(payload.toString()));
        else if (topic.endsWith("/result")) results.push(JSON.parse(payload.toString()));
      });
      await client.subscribeAsync("vitalog/alerts/events", { qos: 1 });
      await client.subscribeAsync(`vitalog/cmd/${id}/result`, { qos: 1 });
      const s: Station = {
        client,
        events,
        results,
        async next(pred, what = "alert event") {
          await waitFor(() => events.some(pred), 10_000, what);
          return events.find(pred)!;
        },
        async command(verb, body) {
          const request_id = `req-${++reqs}`;
          await client.publishAsync(`vitalog/cmd/${verb}`, JSON.stringify({ ...body, request_id }), {
            qos: 1,
          });
          await waitFor(() => results.some((r) => r.request_id === request_id), 10_000, `reply to ${verb}`);
          return results.find((r) => r.request_id === request_id)!;
        },
      };
      const close = t.close;
      t.close = async () => {
        await client.endAsync(true).catch(() => {});
        await close();
      };
      return s;
    },
    async device(id) {
      const password = await t.provision(id);
      const client = await t.connect(id, password);
      return {
        client,
        async send(kind, value, unit, qos = 1) {
          const body = JSON.stringify({ readings: [{ kind, value, unit }] });
          if (qos === 0) client.publish(`vitalog/dev/${id}/json`, body, { qos: 0 });
          else await client.publishAsync(`vitalog/dev/${id}/json`, body, { qos: 1 });
        },
      };
    },
    close: async () => {
      await t.close();
      rmSync(secrets, { recursive: true, force: true });
    },
  };
}
