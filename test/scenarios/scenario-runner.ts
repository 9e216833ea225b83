/**
 * Runs one clinical scenario through the real gateway, in process: the YAML config file an operator would
 * write (the scenario's overrides included, read by `loadConfig`), devices provisioned with `vitalog devices
 * add` and staff with `vitalog users add`, the real broker on loopback, devices publishing SenML or plain
 * JSON over MQTT, a nurse station entering observations and acknowledging over the command topics, and the
 * timeline read from what that station receives on the alert topic.
 *
 * Time: the scenario clock stands still while a second's steps run, then moves one second, firing every
 * timer due (the rule engine's 0.5 s tick, and through it persistence, clear holds, silences, escalations).
 * Each step waits for the gateway's answer: a QoS 1 publish returns with the device's PUBACK, which the
 * gateway sends only after the frame's group commit, and the rules judge a frame before it is queued for that
 * commit; a command returns with its reply. So every second's inputs have been judged before the clock
 * moves. Group commits are flushed at once (`storage.batchMaxDelayMs: 0`), never on the scenario clock.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import mqtt, { type MqttClient } from "mqtt";
import { stringify } from "yaml";
import { Gateway } from "../../src/app/gateway.js";
import { devicesCommand } from "../../src/cli/devices.js";
import { subjectsCommand } from "../../src/cli/subjects.js";
import { usersCommand } from "../../src/cli/users.js";
import { ManualClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { createLogger, LOG_LEVELS, type LogLevel } from "../../src/log.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { tempDir, waitFor } from "../helpers/gateway.js";
import { encodeFrame, vitalsOf } from "./scenario-frames.js";
import { type Scenario, type ScenarioStep, stepSeconds } from "./scenario-schema.js";
import type { ObservedTransition } from "./timeline.js";

/** Timers shorter than this run in real time (see {@link ScenarioClock}). */
const REAL_TIME_BELOW_MS = 100;

/**
 * The scenario's clock: it stands still while a second's steps run and moves only when told, like
 * `ManualClock`, except for timers shorter than {@link REAL_TIME_BELOW_MS}. Those are the gateway's own retries
 * and flushes (a group commit that met the write lock retries after 20 ms, outbox marks are written after
 * 50 ms), and they run in real time so that the work of one second can finish while its clock stands still:
 * on scenario time, a commit retry would wait for a clock that waits for that commit's PUBACK. Every alarm
 * timer is longer (the rule engine's 0.5 s tick) and runs on scenario time.
 */
class ScenarioClock extends ManualClock {
  override setTimeout(fn: () => void, delayMs: number): unknown {
    return delayMs < REAL_TIME_BELOW_MS ? setTimeout(fn, delayMs) : super.setTimeout(fn, delayMs);
  }

  override clearTimeout(handle: unknown): void {
    if (typeof handle === "number") super.clearTimeout(handle);
    else clearTimeout(handle as NodeJS.Timeout);
  }
}

const STATION = "scenario-station";
const STATION_PASSWORD = "scenario-station-password";
/** SCENARIO_LOG=info (or debug) shows the gateway's own log while a scenario runs. */
const LOG_LEVEL: LogLevel = LOG_LEVELS.find((l) => l === process.env.SCENARIO_LOG) ?? "silent";
/** Bound on waiting for the gateway to answer one step (a deadlock guard, never a timing assertion). */
const STEP_WAIT_MS = 15_000;

/** What one run produced. */
export interface ScenarioRun {
  /** The transitions the nurse station received, timed from the start. */
  observed: ObservedTransition[];
  /** The scenario's second 0 on the gateway clock (the origin of `{T+n}` in alert texts). */
  t0: number;
  /** Vital-sign readings the devices sent, and the readings the gateway accepted and the records and frames it refused. */
  readings: { sent: number; accepted: number; refused: number };
  /** Steps the gateway refused (a command's error reply, a CLI's failure), each with its second. */
  failedSteps: string[];
}

/** Runs `scenario` and returns the alarm timeline a nurse station received. */
export async function runScenario(scenario: Scenario): Promise<ScenarioRun> {
  const dir = tempDir("vitalog-scenario-");
  const clients = new Map<string, MqttClient>();
  let gw: Gateway | undefined;
  try {
    const configFile = writeConfig(dir, scenario);
    const passwords = await provision(configFile, scenario);
    // the next whole minute: after the provisioning above, which the CLI stamps with the system clock
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    const clock = new ScenarioClock(t0);
    gw = await Gateway.start(loadConfig(configFile), { log: createLogger(LOG_LEVEL), clock });
    const url = `mqtt://127.0.0.1:${gw.mqtt.port}`;
    const connect = async (id: string, password: string) => {
      const c = await mqtt.connectAsync(url, {
        clientId: id,
        username: id,
        password,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      clients.set(id, c);
      return c;
    };
    const station = await Station.connect(await connect(STATION, STATION_PASSWORD), gw);
    const failedSteps: string[] = [];
    let sent = 0;

    /** Performs step `s`'s `n`-th firing (from 0), at `second`. */
    const perform = async (s: ScenarioStep, second: number, n: number) => {
      const fail = (what: string) => failedSteps.push(`second ${second}: ${what}`);
      if (s.send) {
        const d = scenario.devices.find((x) => x.id === s.send!.device)!;
        const measuredMs = s.send.measured === undefined ? undefined : clock.now() + s.send.measured * 1000;
        const vitals = vitalsOf(s.send, n);
        sent += Object.keys(vitals).length;
        const c = clients.get(d.id)?.connected
          ? clients.get(d.id)!
          : await connect(d.id, passwords.get(d.id)!);
        await withDeadline(
          c.publishAsync(
            `vitalog/dev/${d.id}/${d.format}`,
            encodeFrame(d.format, d.id, s.send, vitals, measuredMs),
            {
              qos: 1,
            },
          ),
          `the PUBACK of ${d.id}'s frame at second ${second}`,
        );
      } else if (s.observe) {
        const o = s.observe;
        const reply = await station.command("observe", {
          subject_id: o.subject,
          by: o.by,
          ...(o.acvpu ? { acvpu: o.acvpu } : {}),
          ...(o.supplemental_oxygen !== undefined ? { supplemental_oxygen: o.supplemental_oxygen } : {}),
          ...(o.spo2_scale ? { spo2_scale: o.spo2_scale } : {}),
        });
        if (reply.ok !== true) fail(`observe refused: ${String(reply.error)} ${String(reply.detail ?? "")}`);
      } else if (s.acknowledge || s.silence) {
        const verb = s.acknowledge ? "ack" : "silence";
        const a = (s.acknowledge ?? s.silence)!;
        const alertId = await station.alertOf(a.rule, a.subject);
        if (alertId === undefined) return fail(`no alert of ${a.rule} to ${verb}`);
        const duration = s.silence?.duration_sec;
        const reply = await station.command(verb, {
          alert_id: alertId,
          by: a.by,
          ...(duration !== undefined ? { duration_sec: duration } : {}),
        });
        if (reply.ok !== true) fail(`${verb} refused: ${String(reply.error)}`);
      } else if (s.disconnect) {
        await clients.get(s.disconnect.device)?.endAsync(true);
        clients.delete(s.disconnect.device);
      } else if (s.remove_device) {
        const argv = ["remove", "--config", configFile, "--id", s.remove_device.device, "--by", "clin.eng"];
        const r = await cli(devicesCommand, argv);
        if (r.code !== 0) fail(`vitalog devices remove: ${r.code} ${r.text}`);
      } else if (s.erase_subject) {
        const r = await cli(subjectsCommand, [
          "erase",
          s.erase_subject.subject,
          "--config",
          configFile,
          "--yes",
          "--by",
          "ward.admin",
        ]);
        if (r.code !== 0) fail(`vitalog subjects erase: ${r.code} ${r.text}`);
      }
    };

    const bySecond = new Map<number, ScenarioStep[]>();
    for (const s of scenario.script) {
      for (const t of stepSeconds(s)) bySecond.set(t, [...(bySecond.get(t) ?? []), s]);
    }
    const firings = new Map<ScenarioStep, number>();
    for (let second = 0; second <= scenario.duration; second++) {
      for (const s of bySecond.get(second) ?? []) {
        const n = firings.get(s) ?? 0;
        firings.set(s, n + 1);
        await perform(s, second, n);
      }
      if (second < scenario.duration) clock.advance(1000);
    }
    await station.caughtUp();
    return {
      observed: station.received.map((m) => observedOf(m, t0)),
      t0,
      readings: {
        sent,
        accepted: gw.metrics.sum("vitalog_readings_accepted_total"),
        refused: gw.metrics.sum("vitalog_rejections_total"),
      },
      failedSteps,
    };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.endAsync(true).catch(() => {})));
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The scenario's vitalog.yaml, with the scenario's `rules` and `alerts` and the station as a consumer. */
function writeConfig(dir: string, scenario: Scenario): string {
  const stateDir = join(dir, "state");
  mkdirSync(stateDir, { mode: 0o700 });
  const stationPw = join(dir, "station.pw");
  writeFileSync(stationPw, `${STATION_PASSWORD}\n`, { mode: 0o600 });
  const alerts = scenario.config.alerts ?? {};
  const consumers = [
    { id: STATION, passwordFile: stationPw, canAcknowledge: true, canObserve: true },
    ...((alerts.consumers as unknown[] | undefined) ?? []),
  ];
  const file = join(dir, "vitalog.yaml");
  const config = {
    gateway: { id: "scenario-gw", stateDir },
    mqtt: { port: 0 },
    admin: { port: 0 },
    log: { level: LOG_LEVEL },
    storage: { batchMaxDelayMs: 0 },
    ...(scenario.config.rules ? { rules: scenario.config.rules } : {}),
    alerts: { ...alerts, consumers },
  };
  writeFileSync(file, stringify(config));
  return file;
}

/** Devices and staff, provisioned as an operator does before starting the daemon; the devices' passwords. */
async function provision(configFile: string, scenario: Scenario): Promise<Map<string, string>> {
  const passwords = new Map<string, string>();
  // the ward's admin adds themselves first (the bootstrap of an empty user store), then the engineer who
  // provisions the devices; every later change is checked against them
  const operators: [string, string, string][] = [
    ["ward.admin", "admin", "ward.admin"],
    ["clin.eng", "clinical_engineer", "ward.admin"],
  ];
  for (const [id, role, by] of operators) {
    const r = await cli(usersCommand, [
      "add",
      "--config",
      configFile,
      "--id",
      id,
      "--role",
      role,
      "--by",
      by,
    ]);
    if (r.code !== 0) throw new Error(`vitalog users add ${id}: ${r.code} ${r.text}`);
  }
  for (const d of scenario.devices) {
    const argv = ["add", "--config", configFile, "--id", d.id, "--subject", d.subject, "--by", "clin.eng"];
    const r = await cli(devicesCommand, argv);
    if (r.code !== 0) throw new Error(`vitalog devices add ${d.id}: ${r.code} ${r.text}`);
    // the password is printed once
    passwords.set(d.id, (JSON.parse(r.text) as { mqtt: { password: string } }).mqtt.password);
  }
  for (const u of scenario.staff) {
    const argv = ["add", "--config", configFile, "--id", u.id, "--role", u.role, "--by", "ward.admin"];
    const r = await cli(usersCommand, argv);
    if (r.code !== 0) throw new Error(`vitalog users add ${u.id}: ${r.code} ${r.text}`);
  }
  return passwords;
}

/** Runs a `vitalog` command in process; a thrown error is its failure (exit status -1, the message as text). */
async function cli(
  command: (argv: string[], out: NodeJS.WritableStream) => Promise<number>,
  argv: string[],
): Promise<{ code: number; text: string }> {
  let text = "";
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  try {
    return { code: await command(argv, out), text };
  } catch (err) {
    return { code: -1, text: (err as Error).message };
  }
}

/** The nurse station: what it receives on the alert topic, and the commands it sends. */
class Station {
  readonly received: AlertMessage[] = [];
  readonly #replies = new Map<string, Record<string, unknown>>();
  readonly #client: MqttClient;
  #emitted = 0;
  #requests = 0;

  private constructor(client: MqttClient) {
    this.#client = client;
  }

  static async connect(client: MqttClient, gw: Gateway): Promise<Station> {
    const s = new Station(client);
    // how many transitions the engine emitted: the station has all of them once it received as many
    gw.rules.engine.onAlertEvent(() => {
      s.#emitted++;
    });
    client.on("message", (topic, payload) => {
      const body = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (topic === "vitalog/alerts/events") s.received.push(body as unknown as AlertMessage);
      else if (topic.endsWith("/result")) s.#replies.set(String(body.request_id), body);
    });
    await client.subscribeAsync("vitalog/alerts/events", { qos: 1 });
    // the ward's station also shows the pages to its recipient groups, so an escalation reaches someone
    await client.subscribeAsync("vitalog/alerts/page/#", { qos: 1 });
    await client.subscribeAsync(`vitalog/cmd/${STATION}/result`, { qos: 1 });
    return s;
  }

  /** Resolves once every transition emitted so far has arrived. */
  caughtUp(): Promise<void> {
    return waitFor(() => this.received.length === this.#emitted, STEP_WAIT_MS, "every alert at the station");
  }

  async command(verb: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const request_id = `s-${++this.#requests}`;
    await this.#client.publishAsync(`vitalog/cmd/${verb}`, JSON.stringify({ ...body, request_id }), {
      qos: 1,
    });
    await waitFor(() => this.#replies.has(request_id), STEP_WAIT_MS, `the reply to ${verb}`);
    return this.#replies.get(request_id)!;
  }

  /** The alert a nurse would pick: the latest of `rule` (and `subject`) not resolved, as the station sees it. */
  async alertOf(rule: string, subject: string | undefined): Promise<string | undefined> {
    await this.caughtUp();
    const latest = new Map<string, AlertMessage>();
    for (const m of this.received)
      if (m.rule_id === rule && (subject === undefined || m.subject_id === subject))
        latest.set(m.alert_id, m);
    return [...latest.values()].filter((m) => m.state !== "resolved").at(-1)?.alert_id;
  }
}

function observedOf(m: AlertMessage, t0: number): ObservedTransition {
  return {
    at: (m.at_ms - t0) / 1000,
    rule: m.rule_id,
    transition: m.transition,
    priority: m.priority,
    text: m.reason,
    subject: m.subject_id,
    device: m.device_id,
    recipient: m.recipient,
    by: m.by,
    via: m.via,
  };
}

/** `p`, or a rejection naming `what` after STEP_WAIT_MS: a stuck run fails with its place, never hangs. */
async function withDeadline<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_WAIT_MS);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
