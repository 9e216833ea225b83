/**
 * Alert consumers: the non-device MQTT principals of `alerts.consumers` (nurse-station screens, integration
 * engines, the CLI). Passwords come from files and are kept only as scrypt hashes (the device registry's
 * helpers). A consumer's MQTT username is its id; its client id is the id or "<id>/<suffix>" (several screens
 * or the CLI sharing one credential). A consumer may subscribe under the alert topic prefix and to its own command results; it may
 * publish commands only when its config grants them (acknowledge/silence, clinician observations).
 *
 * The resolver also knows which consumers listen at this moment (`subscribers`): a connection counts with the
 * subscriptions the broker granted it, less those it unsubscribed, until the broker forgets it
 * (`MqttPrincipal.onClose`). It is what the
 * nobody-listening alarm and the page-delivery check read (listener-presence-rule.ts, recipients.ts).
 *
 * Everything under the alert prefix is patient data (alerts name the subject and the value; `<prefix>/news2/<subject>`
 * carries the subject's NEWS2 parts): reading it is what being a configured consumer authorises. Devices are never
 * principals here, so they cannot subscribe to any of it (mqtt-transport.ts refuses with SUBACK 0x80).
 */

import { readSecretFile } from "../../config.js";
import type { MqttPrincipal, PrincipalResolver } from "../../core/ports.js";
import { hashPassword, verifyPassword } from "../../drivers/device-registry.js";
import type { Logger } from "../../log.js";
import type { AlertsConfig } from "./sinks-config.js";

/** Command verbs (topic level after the command prefix). Wire strings, only ever added to. */
export const COMMANDS = ["ack", "silence", "observe"] as const;
export type CommandVerb = (typeof COMMANDS)[number];

/** Receives a consumer's command; replies are published by the handler. MUST NOT throw. */
export type CommandHandler = (consumerId: string, verb: CommandVerb, payload: Buffer) => void;

/** One live consumer connection: the filters it was granted. */
interface LiveConnection {
  readonly consumerId: string;
  readonly filters: Set<string>;
}

/**
 * [MQTT 3.1.1 §4.7] whether a subscription filter matches a topic name: `+` one level, `#` (last) this level
 * and everything below, including the parent level itself.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export class ConsumerResolver implements PrincipalResolver {
  readonly #consumers: Map<string, AlertsConfig["consumers"][number]>;
  readonly #hashes: Map<string, Promise<string | null>>;
  readonly #alertsPrefix: string;
  readonly #cmdPrefix: string;
  readonly #onCommand: CommandHandler;
  readonly #live = new Set<LiveConnection>();

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

  /** The consumers (ids, once each) connected now with a granted subscription matching `topic`. */
  subscribers(topic: string): string[] {
    const ids = new Set<string>();
    for (const c of this.#live) {
      for (const f of c.filters) if (topicMatches(f, topic)) ids.add(c.consumerId);
    }
    return [...ids];
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
    // registered at its first granted subscription (the connection is then up), so a connection that never
    // subscribes, or closed before the broker registered it, is never held
    const live: LiveConnection = { consumerId: consumer.id, filters: new Set() };
    return {
      id: consumer.id,
      // a filter under the alert prefix can only match alert topics, never device topics
      maySubscribe: (filter) => {
        const isAllowed = filter.startsWith(alerts) || filter === results;
        if (isAllowed) {
          live.filters.add(filter);
          this.#live.add(live);
        }
        return isAllowed;
      },
      onClose: () => {
        this.#live.delete(live);
      },
      onUnsubscribe: (filters) => {
        for (const f of filters) live.filters.delete(f);
      },
      onPublish: (topic, payload) => {
        const verb = topic.startsWith(`${this.#cmdPrefix}/`) ? topic.slice(this.#cmdPrefix.length + 1) : "";
        if (!allowed.has(verb as CommandVerb)) return false;
        this.#onCommand(consumer.id, verb as CommandVerb, payload);
        return true;
      },
    };
  }
}
