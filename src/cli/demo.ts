import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Scenario } from "../../firmware-sim/scenarios.js";
import { Gateway } from "../app/gateway.js";
import { systemClock } from "../clock.js";
import { parseConfig } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import { openDatabase } from "../db.js";
import { generatePassword } from "../drivers/device-registry.js";
import { GatewayError } from "../errors.js";
import { createLogger, type Logger } from "../log.js";
import { MIGRATIONS } from "../migrations.js";
import type { RulesHandle } from "../rules/create-rules.js";
import { USERS_CHANGED_OP } from "../users/create-users.js";
import { openUserStore } from "../users/open-user-store.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { startDemoLedger } from "./demo-ledger.js";
import { DEMO_WORKER_ENV, superviseDemo, sweepGroup } from "./demo-supervisor.js";
import { type DeviceRow, renderAlerts, renderTable } from "./demo-view.js";
import { parseCommand } from "./options.js";

const SIM = resolve(dirname(fileURLToPath(import.meta.url)), "../../firmware-sim/mqtt-wearable.js");
/** How long a worker's stop may take before its process group is killed. */
const STOP_DEADLINE_MS = 15_000;

/**
 * What a nurse enters at the bedside for each demo patient, so NEWS2 has the two parameters no device supplies
 * (air or oxygen, ACVPU) [RCP NEWS2 2017 Chart 1] and a newcomer sees scores. The deteriorating patient is on
 * oxygen with new confusion (2 + 3): its NEWS2 alert is raised once its first complete set of vitals has persisted
 * (`rules.news2.persistSec`) and rises as they drift; the others breathe air and are alert.
 */
const DEMO_ENTRIES: Record<Scenario, { supplemental_oxygen: boolean; acvpu: "A" | "C" }> = {
  stable: { supplemental_oxygen: false, acvpu: "A" },
  deteriorating: { supplemental_oxygen: true, acvpu: "C" },
  sensor_off: { supplemental_oxygen: false, acvpu: "A" },
  flapping: { supplemental_oxygen: false, acvpu: "A" },
  silent: { supplemental_oxygen: false, acvpu: "A" },
};
/** The demo's bedside entries are attributed to this user, through this "station". */
const DEMO_NURSE = "demo.nurse";
const DEMO_VIA = "demo";
const NEWS2_NOTE =
  `NEWS2: air/oxygen and ACVPU entered for every patient by ${DEMO_NURSE} (deteriorating patients: oxygen, new confusion); ` +
  "the NEWS2 column shows each score, or how many parameters are missing";

/**
 * The device simulators, loaded when the demo starts: firmware-sim/ is not part of the npm package, so a
 * production install has none and the demo says how to get them.
 */
async function loadSimulators() {
  try {
    const [{ scenarioFor }, { prepareFieldDevices }] = await Promise.all([
      import("../../firmware-sim/scenarios.js"),
      import("../../firmware-sim/demo-devices.js"),
    ]);
    if (!existsSync(SIM))
      throw Object.assign(new Error(`${SIM} is missing`), { code: "ERR_MODULE_NOT_FOUND" });
    return { scenarioFor, prepareFieldDevices };
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw cause;
    throw new GatewayError(
      "COMPONENT_MISSING",
      "the demo's device simulators (firmware-sim/) are not installed: the npm package does not ship them; run the demo from a clone of the repository (README: Set-up: the two commands)",
      { cause },
    );
  }
}

/** How the printed hints call vitalog: by name when it is on PATH, else as this very process was started. */
function vitalogInvocation(): string {
  const onPath = (process.env.PATH ?? "").split(":").some((d) => d !== "" && existsSync(join(d, "vitalog")));
  return onPath ? "vitalog" : `${process.execPath} ${fileURLToPath(new URL("../main.js", import.meta.url))}`;
}

/**
 * `vitalog demo`: the gateway on embedded defaults in a temporary state dir, simulated wearables
 * in a separate process, and a live table of what arrives, until Ctrl-C (or --seconds). Run from the command
 * line it supervises a worker process that does all that (demo-supervisor.ts: nothing outlives the demo).
 */
export async function demoCommand(
  argv: string[],
  out: NodeJS.WriteStream | NodeJS.WritableStream,
): Promise<number> {
  const { values } = parseCommand(COMMAND_SPECS.demo, argv);
  const deviceCount = Number(values.devices);
  const rate = Number(values.rate);
  if (!(Number.isInteger(deviceCount) && deviceCount > 0 && deviceCount <= 500)) {
    throw new GatewayError("USAGE", "--devices must be 1..500");
  }
  if (!(rate > 0 && rate <= 100))
    throw new GatewayError("USAGE", "--rate must be in (0, 100] packs/s per device");
  if (values.seconds !== undefined && !(Number(values.seconds) > 0))
    throw new GatewayError("USAGE", "--seconds must be a positive number");
  const isWorker = process.env[DEMO_WORKER_ENV] === "1";
  if (!isWorker && out === process.stdout) return superviseDemo(argv);
  const { scenarioFor, prepareFieldDevices } = await loadSimulators();
  const stateDir = mkdtempSync(join(tmpdir(), "vitalog-demo-"));
  // the log lives beside the state directory, not in it: it is kept when the state is removed
  const logFile = `${stateDir}.log`;
  const log = createLogger("info", createWriteStream(logFile));
  // BLE and serial simulated devices, when dbus-daemon and socat are installed (else the demo says why not)
  const field = await prepareFieldDevices(stateDir, deviceCount);
  // a real local EVM node as the embedded ledger: checkpoints are anchored within seconds
  const ledger = await startDemoLedger(stateDir);
  const raw = {
    gateway: { id: "demo-gw", origin: "demo.vitalog.invalid/gw/demo-gw", stateDir },
    mqtt: { port: 0 },
    admin: { port: 0 },
    ...field.config,
    ...ledger.config,
  };
  const config = parseConfig(raw, stateDir, "demo");
  const gateway = await Gateway.start(config, { log, clock: systemClock });
  // the config the printed commands name: the running demo gateway's, with the port its broker took
  const configFile = join(stateDir, "vitalog.yaml");
  writeFileSync(
    configFile,
    `# vitalog demo: the config of the demo gateway while it runs (JSON is YAML)\n${JSON.stringify({ ...raw, mqtt: { port: gateway.mqtt.port } }, null, 2)}\n`,
    { mode: 0o600 },
  );
  const rows = new Map<string, DeviceRow>();
  const creds = [];
  for (let i = 0; i < deviceCount; i++) {
    const id = `wear-${String(i + 1).padStart(3, "0")}`;
    const subjectId = `pt-${String(i + 1).padStart(3, "0")}`;
    const password = generatePassword();
    const scenario = scenarioFor(i);
    await gateway.registry.add({ id, subjectId, password, model: "vitalog-sim" }, Date.now());
    creds.push({ device_id: id, password, scenario });
    rows.set(id, {
      deviceId: id,
      subjectId,
      scenario,
      readings: 0,
      rejections: 0,
      lastAtMs: null,
      values: {},
      flags: new Set(),
      contact: null,
      batteryPct: null,
    });
  }
  for (const d of field.devices) {
    rows.set(d.deviceId, {
      deviceId: d.deviceId,
      subjectId: d.subjectId,
      scenario: d.scenario,
      readings: 0,
      rejections: 0,
      lastAtMs: null,
      values: {},
      flags: new Set(),
      contact: null,
      batteryPct: null,
    });
  }
  const rules = gateway.rules;
  // the demo's bedside entries are made by a known user, as every attributed action must be (logged), added
  // as `vitalog users add` would: on a connection of its own, which waits out the gateway's commits
  const usersDb = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const demoNurse = { id: DEMO_NURSE, role: "nurse", displayName: "Demo Nurse" } as const;
    await openUserStore(usersDb, config).add(demoNurse, Date.now(), { via: "cli", reason: "vitalog demo" });
  } finally {
    usersDb.close();
  }
  // the daemon acts on the users it verified against the log: told, as `vitalog users` tells it
  await controlRequest(config.gateway.stateDir, USERS_CHANGED_OP);
  if (rules) recordDemoEntries(rules, [...rows.values()], log);
  field.startSimulators(rate);
  gateway.ingest.addListener({
    onReading: (r) => {
      const row = rows.get(r.deviceId);
      if (!row) return;
      row.readings++;
      row.lastAtMs = r.receivedAtMs;
      row.values[r.kind] = r.value;
      row.flags = new Set(r.flags.filter((f) => f !== "unit_converted"));
    },
    onDeviceStatus: (s, status) => {
      const row = rows.get(s.deviceId);
      if (!row) return;
      if (status.sensorContact !== undefined) row.contact = status.sensorContact;
      if (status.batteryPct !== undefined) row.batteryPct = status.batteryPct;
      row.lastAtMs = systemClock.now();
    },
    onRejected: (s, _reason, _atMs, count) => {
      const row = s.deviceId ? rows.get(s.deviceId) : undefined;
      if (row) row.rejections += count;
    },
  });
  const credFile = join(stateDir, "sim-credentials.json");
  writeFileSync(credFile, JSON.stringify(creds), { mode: 0o600 });
  const sim = spawn(
    process.execPath,
    [
      SIM,
      "--url",
      `mqtt://127.0.0.1:${gateway.mqtt.port}`,
      "--credentials",
      credFile,
      "--rate",
      String(rate),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let simErr = "";
  sim.stderr.on("data", (d: Buffer) => {
    simErr = (simErr + d.toString()).slice(-2000);
  });

  const isTty = "isTTY" in out && out.isTTY === true;
  const cli = `${vitalogInvocation()} %s --config ${configFile}`;
  const hints = ["readings --tail 5", "alerts", "news2", "audit"].map((c) => `  ${cli.replace("%s", c)}`);
  out.write(
    `Vitalog demo: gateway ${config.gateway.id}, MQTT on 127.0.0.1:${gateway.mqtt.port}, state in ${stateDir}\n` +
      `${deviceCount} simulated wearable(s) in a separate process (${SIM})\n${[...field.notes, ledger.note, NEWS2_NOTE].join("\n")}\n` +
      `Kept after it stops: the gateway log ${logFile}. Removed when it stops: ${stateDir}${values.keep ? " (kept: --keep)" : " (--keep keeps it)"}\n` +
      `While it runs, in another terminal (${configFile} is its config):\n${hints.join("\n")}\nCtrl-C to stop.\n\n`,
  );
  const started = Date.now();
  const draw = () => {
    for (const row of rows.values()) {
      const n = rules?.engine.news2(row.subjectId);
      row.news2 = n
        ? { total: n.total, band: n.band, missing: n.missing.length, pending: n.pending.length }
        : null;
    }
    const footer =
      `stored ${gateway.store.count()} readings · accepted ${gateway.metrics.sum("vitalog_readings_accepted_total")}` +
      ` · rejected ${gateway.metrics.sum("vitalog_rejections_total")}${ledger.footer(gateway.metrics)}` +
      ` · up ${Math.round((Date.now() - started) / 1000)}s`;
    const lines = renderTable([...rows.values()], Date.now(), footer);
    const active = rules?.engine.activeAlerts() ?? [];
    if (isTty) out.write(`\x1b[H\x1b[2J${[...lines, "", ...renderAlerts(active, Date.now())].join("\n")}\n`);
    else out.write(`${new Date().toISOString()} ${footer} · alerts active ${active.length}\n`);
  };
  // without a terminal to redraw, every alert transition is a log line of its own
  const unsubscribe = isTty
    ? () => {}
    : (rules?.engine.onAlertEvent((e) => {
        out.write(
          `${new Date(e.at_ms).toISOString()} ALERT ${e.transition} ${e.priority.toUpperCase()} ${e.subject_id} ${e.rule_id}: ${e.reason}\n`,
        );
      }) ?? (() => {}));
  const timer = setInterval(draw, isTty ? 1000 : 5000);
  // this screen shows every alert: it is a listener, so the gateway does not report that nobody listens
  const releaseScreen = rules?.listeners.attach("demo screen") ?? (() => {});

  const parent = process.ppid;
  const code = await new Promise<number>((done) => {
    const finish = () => done(0);
    // every one, not once: a second signal must not kill the demo mid-stop (the parent-death signal comes
    // once per thread of the dying parent [prctl(2) PR_SET_PDEATHSIG], and a user may press Ctrl-C twice)
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, finish);
    // a worker whose supervisor died without a word (SIGKILL) and without setpriv's signal: its parent changes
    if (isWorker) setInterval(() => process.ppid !== parent && finish(), 500).unref();
    sim.once("exit", (c) => {
      if (c !== null && c !== 0) {
        out.write(`simulator exited with ${c}: ${simErr}\n`);
        done(1);
      }
    });
    if (values.seconds) setTimeout(finish, Number(values.seconds) * 1000);
  });
  // a worker that cannot stop in time still leaves nothing behind: its process group is killed
  if (isWorker) setTimeout(() => sweepGroup(process.pid), STOP_DEADLINE_MS).unref();
  clearInterval(timer);
  unsubscribe();
  releaseScreen();
  sim.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  draw();
  if (!isTty) out.write(`${renderTable([...rows.values()], Date.now(), "").join("\n")}\n`);
  await gateway.stop();
  await field.stop();
  await ledger.stop();
  if (!values.keep) rmSync(stateDir, { recursive: true, force: true });
  out.write(
    `\nstopped; gateway log kept in ${logFile}; ${values.keep ? `state kept in ${stateDir} (config ${configFile})` : `state removed (${stateDir})`}\n`,
  );
  // the supervisor is gone and cannot sweep the group: the worker does, itself last
  if (isWorker && process.ppid !== parent) sweepGroup(process.pid);
  return code;
}

/** Records each demo patient's bedside entry as a clinician observation, as a station would (logged, attributed). */
function recordDemoEntries(rules: RulesHandle, rows: readonly DeviceRow[], log: Logger): void {
  const done = new Set<string>();
  for (const row of rows) {
    if (done.has(row.subjectId)) continue;
    done.add(row.subjectId);
    const entry = DEMO_ENTRIES[row.scenario as Scenario] ?? DEMO_ENTRIES.stable;
    const body = JSON.stringify({ subject_id: row.subjectId, by: DEMO_NURSE, ...entry });
    const reply = rules.commands.handle(DEMO_VIA, "observe", body);
    if (!reply.ok) log.warn({ error: reply.error, detail: reply.detail }, "demo bedside entry refused");
  }
}
