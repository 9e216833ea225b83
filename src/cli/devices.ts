import { loadConfig } from "../config.js";
import { openDatabase } from "../db.js";
import { DeviceRegistry, generatePassword } from "../drivers/device-registry.js";
import { GatewayError } from "../errors.js";
import { MIGRATIONS } from "../migrations.js";
import { parseFlags, requireFlag } from "./args.js";

/** `vitalog devices add|list|remove --config FILE …` */
export async function devicesCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    config: { type: "string", short: "c" },
    id: { type: "string" },
    subject: { type: "string" },
    model: { type: "string" },
  });
  const config = loadConfig(requireFlag(values.config, "config"));
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const registry = new DeviceRegistry(db);
    switch (positionals[0]) {
      case "add": {
        const id = requireFlag(values.id, "id");
        const password = generatePassword();
        await registry.add(
          { id, subjectId: requireFlag(values.subject, "subject"), password, model: values.model },
          Date.now(),
        );
        // the password is shown exactly once; only its scrypt hash is stored
        out.write(
          `${JSON.stringify({
            device_id: id,
            mqtt: {
              host: config.mqtt.host,
              port: config.mqtt.port,
              client_id: id,
              username: id,
              password,
              topic_senml: `${config.mqtt.topicPrefix}/${id}/senml`,
              topic_json: `${config.mqtt.topicPrefix}/${id}/json`,
            },
          })}\n`,
        );
        return 0;
      }
      case "list":
        for (const d of registry.list()) {
          out.write(
            `${JSON.stringify({ device_id: d.id, subject_id: d.subjectId, model: d.model, created_at: new Date(d.createdAtMs).toISOString() })}\n`,
          );
        }
        return 0;
      case "remove": {
        const id = requireFlag(values.id, "id");
        if (!registry.remove(id)) throw new GatewayError("DEVICE_UNKNOWN", `no device ${id}`);
        out.write(`${JSON.stringify({ removed: id })}\n`);
        return 0;
      }
      default:
        throw new GatewayError(
          "USAGE",
          "usage: vitalog devices add|list|remove --config FILE [--id ID --subject S]",
        );
    }
  } finally {
    db.close();
  }
}
