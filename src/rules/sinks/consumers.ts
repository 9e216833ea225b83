/**
 * Alert consumers: the non-device MQTT principals of `alerts.consumers` (nurse-station screens, integration
 * engines, the CLI). Passwords come from files and are kept only as scrypt hashes (the device registry's
 * helpers). A consumer's MQTT username is its id; its client id is the id or "<id>/<suffix>" (several screens
 * or the CLI sharing one credential). A consumer may subscribe under the alert topic prefix and to its own command results; it may
 * publish commands only when its config grants them (acknowledge/silence, clinician observations).
 *
 * Everything under the alert prefix is patient data (alerts name the subject and the value; `<prefix>/news2/<subject>`
 * carries the subject's NEWS2 parts): reading it is what being a configured consumer authorises. Devices are never
 * principals here, so they cannot subscribe to any of it (mqtt-transport.ts refuses with SUBACK 0x80).
 */
import { readSecretFile } from "../../config.js";
import { hashPassword, verifyPassword } from "../../drivers/device-registry.js";
import type { MqttPrincipal, PrincipalResolver } from "../../drivers/mqtt/mqtt-transport.js";
import type { Logger } from "../../log.js";
import type { AlertsConfig } from "./sinks-config.js";

/** Command verbs (topic level after the command prefix). Wire strings, only ever added to. */
export const COMMANDS = ["ack", "silence", "observe"] as const;
export type CommandVerb = (typeof COMMANDS)[number];

/** Receives a consumer's command; replies are published by the handler. MUST NOT throw. */
export type CommandHandler = (consumerId: string, verb: CommandVerb, payload: Buffer) => void;

export class ConsumerResolver implements PrincipalResolver {
  readonly #consumers: Map<string, AlertsConfig["consumers"][number]>;
  readonly #hashes: Map<string, Promise<string | null>>;
  readonly #alertsPrefix: string;
  readonly #cmdPrefix: string;
  readonly #onCommand: CommandHandler;

  constructor(config: AlertsConfig, onCommand: CommandHandler, log: Logger) {
    this.#consumers = new Map(config.consumers.map((c) => [c.id, c]));
    this.#alertsPrefix = config.mqtt.topicPrefix;
    this.#cmdPrefix = config.mqtt.commandPrefix;
    this.#onCommand = onCommand;
    // hash now (scrypt, async) and forget the plaintext; authentication waits for the hash
    this.#hashes = new Map(
      config.consumers.map((c) => {
        const hash = hashPassword(readSecretFile(c.passwordFile)).catch((err: unknown) => {
          log.error({ consumer: c.id, err }, "consumer password unusable");
          return null;
        });
        return [c.id, hash];
      }),
    );
  }

  owns(username: string): boolean {
    return this.#consumers.has(username);
  }

  async authenticate(username: string, password: string): Promise<MqttPrincipal | null> {
    const consumer = this.#consumers.get(username);
    const hash = await this.#hashes.get(username);
    if (!consumer || !hash) return null;
    if (!(await verifyPassword(password, hash).catch(() => false))) return null;
    const alerts = `${this.#alertsPrefix}/`;
    const results = `${this.#cmdPrefix}/${consumer.id}/result`;
    const allowed = new Set<CommandVerb>([
      ...(consumer.canAcknowledge ? (["ack", "silence"] as const) : []),
      ...(consumer.canObserve ? (["observe"] as const) : []),
    ]);
    return {
      id: consumer.id,
      // a filter under the alert prefix can only match alert topics, never device topics
      maySubscribe: (filter) => filter.startsWith(alerts) || filter === results,
      onPublish: (topic, payload) => {
        const verb = topic.startsWith(`${this.#cmdPrefix}/`) ? topic.slice(this.#cmdPrefix.length + 1) : "";
        if (!allowed.has(verb as CommandVerb)) return false;
        this.#onCommand(consumer.id, verb as CommandVerb, payload);
        return true;
      },
    };
  }
}
