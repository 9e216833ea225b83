/**
 * `vitalog devices add|list|bind|passwd|remove --config FILE …`: provisioning.
 *
 * Every change is committed together with its log event (device-events.ts) when the log is enabled (the
 * log's keys are created on first use, as the daemon would), then the running daemon, if any, is told on
 * its control socket to re-check that device's live sessions: a removed, re-bound or re-keyed device's
 * connection is closed at once (and whatever it sent meanwhile is refused at commit).
 */
import { openTlog } from "../batcher/tlog/open-tlog.js";
import { type Config, loadConfig } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import { openDatabase } from "../db.js";
import type { DeviceChangeActor } from "../drivers/device-events.js";
import { DeviceRegistry, generatePassword } from "../drivers/device-registry.js";
import { GatewayError } from "../errors.js";
import { MIGRATIONS } from "../migrations.js";
import { authorizeCli, loadUserDirectory, printRefusal } from "../users/cli-authorization.js";
import { cliActor, idFlag, requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

export async function devicesCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.devices, argv);
  const verb = positionals[0];
  if (positionals.length !== 1 || !["add", "list", "bind", "passwd", "remove"].includes(verb!)) {
    throw usageError(COMMAND_SPECS.devices);
  }
  idFlag(values.id, "id");
  idFlag(values.subject, "subject");
  const config = loadConfig(requireFlag(values.config, "config"));
  const actor: DeviceChangeActor = cliActor(values.by, values.reason);
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const registry = new DeviceRegistry(db);
    if (config.tlog.enabled) {
      const tlog = openTlog(db, config, { createMissing: true });
      registry.attachEventLog((events) => tlog.records.append([], events));
    }
    const write = (o: unknown) => out.write(`${JSON.stringify(o)}\n`);
    // a device declared in the config file is put back as declared at every start: a change here would
    // last until the next restart, so it is refused (the config file is where such a device changes)
    const declared = values.id !== undefined && config.devices.some((d) => d.id === values.id);
    if (declared && verb !== "add") {
      throw new GatewayError(
        "USAGE",
        `device ${values.id} is declared in the config file's devices: list; change it there and restart (a change made here would be undone at the next start)`,
      );
    }
    if (verb !== "list") {
      // `--by` must be a user who may manage devices (users/cli-authorization.ts)
      try {
        const directory = loadUserDirectory(db, config);
        await authorizeCli(config, directory, actor.by!, "manage_devices", `devices_${verb}`, {
          isOpenWhenEmpty: true,
        });
      } catch (err) {
        return printRefusal(err, out);
      }
    }
    /** Exit status once a change is committed: 75 when the running daemon could not be told of it. */
    const exitAfter = (told: Record<string, unknown>) =>
      told.daemon === "unreachable" || told.daemon === "refused" ? 75 : 0;
    switch (verb) {
      case "add": {
        const id = requireFlag(values.id, "id");
        const password = generatePassword();
        const subjectId = requireFlag(values.subject, "subject");
        await registry.add({ id, subjectId, password, model: values.model }, Date.now(), actor);
        // the password is shown exactly once; only its scrypt hash is stored
        write({ device_id: id, mqtt: mqttSettings(config, id, password) });
        return 0;
      }
      case "list":
        for (const d of registry.list()) {
          write({
            device_id: d.id,
            subject_id: d.subjectId,
            model: d.model,
            created_at: new Date(d.createdAtMs).toISOString(),
          });
        }
        return 0;
      case "bind": {
        const id = requireFlag(values.id, "id");
        const subjectId = requireFlag(values.subject, "subject");
        const changed = await registry.bind({ id, subjectId, model: values.model }, Date.now(), actor);
        const told = await tellDaemon(config, id, actor.by);
        write({ device_id: id, rebound: changed, ...told });
        return exitAfter(told);
      }
      case "passwd": {
        const id = requireFlag(values.id, "id");
        const password = generatePassword();
        await registry.setPassword(id, password, Date.now(), actor);
        const told = await tellDaemon(config, id, actor.by);
        write({ device_id: id, mqtt: mqttSettings(config, id, password), ...told });
        return exitAfter(told);
      }
      default: {
        const id = requireFlag(values.id, "id");
        if (!(await registry.remove(id, Date.now(), actor)))
          throw new GatewayError("DEVICE_UNKNOWN", `no device ${id}`);
        const told = await tellDaemon(config, id, actor.by);
        write({ removed: id, ...told });
        return exitAfter(told);
      }
    }
  } finally {
    db.close();
  }
}

/** Who is acting: `--by`, else the login that ran the command (through sudo: the person, not root). */

/**
 * Asks the running daemon to re-check the device's live sessions and the device's alarms. The change is committed already: a
 * daemon that is not running has no session to close; one that cannot be reached stops the session's
 * readings at its next frame and closes it within its periodic check, but the command exits 75 so that
 * whoever ran it knows the revocation was not confirmed.
 */
async function tellDaemon(
  config: Readonly<Config>,
  deviceId: string,
  by: string | undefined,
): Promise<Record<string, unknown>> {
  try {
    // `by`: who made the change, for the alarms it ends (their resolve events name them)
    const reply = await controlRequest(config.gateway.stateDir, "devices_changed", {
      device_id: deviceId,
      ...(by !== undefined ? { by } : {}),
    });
    if (reply === undefined) return { daemon: "not_running" };
    if (!reply.ok) return { daemon: "refused", error: reply.error, detail: reply.detail };
    return { daemon: "notified", sessions_closed: reply.sessions_closed };
  } catch (err) {
    return { daemon: "unreachable", detail: (err as Error).message };
  }
}

/** What the device needs to connect: the plain listener's address, or the TLS one's when plain is off. */
function mqttSettings(config: Readonly<Config>, id: string, password: string) {
  const { tls } = config.mqtt;
  const listener =
    !config.mqtt.plain && tls
      ? { host: tls.host, port: tls.port, tls: true }
      : { host: config.mqtt.host, port: config.mqtt.port };
  return {
    ...listener,
    client_id: id,
    username: id,
    password,
    topic_senml: `${config.mqtt.topicPrefix}/${id}/senml`,
    topic_json: `${config.mqtt.topicPrefix}/${id}/json`,
  };
}
