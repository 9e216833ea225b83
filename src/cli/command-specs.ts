/**
 * The option table of every `vitalog` command (options.ts makes the parser and the `--help` text from each).
 * Pure data with no imports of the commands, so `vitalog --help` and `vitalog <command> --help` answer without
 * loading the broker, the database or the ledger client. Flag names are an interface: only ever added to.
 */
import type { CommandSpec } from "./options.js";

const config = {
  type: "string",
  short: "c",
  arg: "FILE",
  help: "the gateway's configuration file (YAML)",
} as const;
const by = {
  type: "string",
  arg: "USER",
  help: "the user acting (a gateway user id; default: the login running the command, through sudo too)",
} as const;
const reason = {
  type: "string",
  arg: "TEXT",
  help: "why, recorded with the change (1–256 characters)",
} as const;

export const COMMAND_SPECS = {
  run: {
    name: "run",
    maxPositionals: 0,
    summary: "run the gateway daemon (exits 0 after a graceful SIGTERM/SIGINT)",
    synopsis: ["--config FILE"],
    options: { config },
  },
  demo: {
    name: "demo",
    maxPositionals: 0,
    summary:
      "a gateway with simulated wearables, BLE and serial devices and a local ledger, live, until Ctrl-C",
    synopsis: ["[--devices N] [--rate HZ] [--seconds S] [--keep]"],
    options: {
      devices: {
        type: "string",
        default: "10",
        arg: "N",
        help: "simulated MQTT wearables, 1–500 (default 10)",
      },
      rate: {
        type: "string",
        default: "1",
        arg: "HZ",
        help: "packs per second per device, (0, 100] (default 1)",
      },
      seconds: { type: "string", arg: "S", help: "stop after S seconds (default: run until Ctrl-C)" },
      keep: { type: "boolean", default: false, help: "keep the state directory after the demo stops" },
    },
    notes: ["The demo prints, at start, the config file it wrote and commands to try against it."],
  },
  devices: {
    name: "devices",
    summary: "provision, list, re-bind, re-key and remove devices (each change logged)",
    synopsis: [
      "add --config FILE --id ID --subject S [--model M] [--by USER] [--reason TEXT]",
      "list --config FILE",
      "bind --config FILE --id ID --subject S [--by USER] [--reason TEXT]",
      "passwd --config FILE --id ID [--by USER] [--reason TEXT]",
      "remove --config FILE --id ID [--by USER] [--reason TEXT]",
    ],
    options: {
      config,
      id: { type: "string", arg: "ID", help: "the device id (1–64 of A-Z a-z 0-9 . _ -)" },
      subject: { type: "string", arg: "S", help: "the patient or asset the device is bound to" },
      model: { type: "string", arg: "M", help: "the device model, for the operator's records" },
      by,
      reason,
    },
    notes: ["add and passwd print the device's MQTT credentials once, as JSON; they are not shown again."],
  },
  users: {
    name: "users",
    summary: "the staff who may act on alarms, each with a role (each change logged)",
    synopsis: [
      "add --config FILE --id ID --role ROLE [--name NAME] [--by USER] [--reason TEXT]",
      "list --config FILE",
      "disable|enable --config FILE --id ID [--by USER] [--reason TEXT]",
      "role --config FILE --id ID --role ROLE [--by USER] [--reason TEXT]",
    ],
    options: {
      config,
      id: { type: "string", arg: "ID", help: "the user id" },
      role: { type: "string", arg: "ROLE", help: "the user's role (e.g. nurse, physician, admin)" },
      name: { type: "string", arg: "NAME", help: "the user's display name" },
      by,
      reason,
    },
    notes: ["exit 77 when --by may not make the change (unknown, disabled, role not permitted)"],
  },
  readings: {
    name: "readings",
    maxPositionals: 0,
    summary: "stored readings as JSON lines, oldest first",
    synopsis: ["--config FILE [--device ID] [--subject S] [--since 15m] [--limit N | --tail N] [--follow]"],
    options: {
      config,
      device: { type: "string", arg: "ID", help: "only this device's readings" },
      subject: { type: "string", arg: "S", help: "only this subject's readings" },
      since: {
        type: "string",
        arg: "WHEN",
        help: "received at or after WHEN: 90s, 15m, 2h, 1d ago, ISO time, epoch ms",
      },
      limit: {
        type: "string",
        arg: "N",
        help: "at most the first N readings from --since on (default 1000)",
      },
      tail: {
        type: "string",
        arg: "N",
        help: "the latest N readings (still oldest first, as tail(1) shows them)",
      },
      follow: { type: "boolean", short: "f", help: "then keep printing new readings as they are stored" },
    },
  },
  status: {
    name: "status",
    maxPositionals: 0,
    summary: "state of the running daemon (its admin endpoint), as JSON",
    synopsis: ["--config FILE"],
    options: { config },
    notes: ["exit 69 with GATEWAY_NOT_RUNNING when no gateway answers on the configured admin port"],
  },
  keys: {
    name: "keys",
    summary: "the log's signing and storage keys; init/show print the verifier key (vkey)",
    synopsis: ["init|show|list|rotate --config FILE"],
    options: { config },
  },
  proof: {
    name: "proof",
    summary:
      "a self-contained proof bundle for one reading or logged event (a device's binding: --device), or a consistency proof between two checkpoints",
    synopsis: [
      "<reading-id|event-id> --config FILE [--at SIZE] [--out FILE]",
      "--device ID --config FILE [--at SIZE] [--out FILE]",
      "--consistency OLD NEW --config FILE",
    ],
    options: {
      config,
      device: {
        type: "string",
        arg: "ID",
        help: "prove the device's latest binding event in the log (bound, unbound or credential changed)",
      },
      at: { type: "string", arg: "SIZE", help: "prove against the signed checkpoint of this tree size" },
      out: {
        type: "string",
        short: "o",
        arg: "FILE",
        help: "write the bundle to FILE (mode 0600) instead of stdout",
      },
      consistency: {
        type: "boolean",
        default: false,
        help: "prove checkpoint OLD is a prefix of checkpoint NEW",
      },
    },
  },
  verify: {
    name: "verify",
    summary: "offline check of a proof bundle: exit 0 valid, 1 invalid, 2 unusable input",
    synopsis: [
      "<bundle> --vkey VKEY [--vkey …] [--origin O] [--json] [--chain-id N --contract 0x… --block-hash 0x…]",
    ],
    options: {
      vkey: {
        type: "string",
        multiple: true,
        arg: "VKEY",
        help: "a trusted verifier key, or @FILE with one per line",
      },
      origin: { type: "string", arg: "O", help: "the log origin the checkpoint must name" },
      json: { type: "boolean", default: false, help: "print the result as JSON" },
      "chain-id": { type: "string", arg: "N", help: "the ledger's chain id the anchor evidence must name" },
      contract: { type: "string", arg: "0x…", help: "the registry contract the anchor evidence must name" },
      "block-hash": { type: "string", arg: "0x…", help: "the block hash the anchor evidence must name" },
    },
  },
  audit: {
    name: "audit",
    maxPositionals: 0,
    summary:
      "recompute the tree from storage and check every checkpoint and logged table (exit 70 on findings)",
    synopsis: ["--config FILE [--vkey VKEY …] [--json]"],
    options: {
      config,
      vkey: {
        type: "string",
        multiple: true,
        arg: "VKEY",
        help: "trusted verifier keys (default: the log's key history)",
      },
      json: { type: "boolean", default: false, help: "print the findings as JSON" },
    },
  },
  subjects: {
    name: "subjects",
    summary: "crypto-shred a subject (irreversible)",
    synopsis: ["erase <subject> --config FILE --yes [--by USER]"],
    options: {
      config,
      yes: { type: "boolean", default: false, help: "confirm: the erasure cannot be undone" },
      by,
    },
  },
  tlog: {
    name: "tlog",
    summary: "put rows the log does not hold in it, as they stand (logged, irreversible)",
    synopsis: [
      "adopt-unlogged --config FILE --by USER --reason TEXT [--id DEVICE | --devices-only | --readings-only | --rejections-only] --yes",
    ],
    options: {
      config,
      by,
      reason,
      id: { type: "string", arg: "DEVICE", help: "adopt this device row only" },
      "devices-only": { type: "boolean", default: false, help: "adopt device rows only" },
      "readings-only": { type: "boolean", default: false, help: "adopt readings only" },
      "rejections-only": { type: "boolean", default: false, help: "adopt rejection evidence only" },
      yes: { type: "boolean", default: false, help: "confirm: adopted rows become signed history" },
    },
  },
  alerts: {
    name: "alerts",
    summary: "active alerts and recent transitions; acknowledge or silence one as a known user",
    synopsis: [
      "[list] --config FILE [--since 24h] [--limit N]",
      "ack <alert-id> --config FILE --by USER [--as CONSUMER]",
      "silence <alert-id> --config FILE --by USER [--as CONSUMER] [--minutes M]",
    ],
    options: {
      config,
      since: { type: "string", arg: "WHEN", help: "transitions since WHEN (default 24h)" },
      limit: { type: "string", arg: "N", help: "at most N transitions (default 100)" },
      by,
      as: {
        type: "string",
        arg: "CONSUMER",
        help: "act through the MQTT command topic as this alert consumer",
      },
      minutes: { type: "string", arg: "M", help: "silence for M minutes" },
    },
    notes: ["<alert-id> may be a unique prefix (6+ characters); exit 77 when --by is refused"],
  },
  observe: {
    name: "observe",
    maxPositionals: 0,
    summary: "a clinician's NEWS2 entry for a subject (running daemon; logged, attributed)",
    synopsis: [
      "--config FILE --subject S --by USER [--air|--oxygen] [--acvpu A|C|V|P|U] [--spo2-scale 1|2] [--observed-at ISO] [--as CONSUMER]",
    ],
    options: {
      config,
      subject: { type: "string", arg: "S", help: "the subject observed" },
      by,
      air: { type: "boolean", help: "breathing room air" },
      oxygen: { type: "boolean", help: "on supplemental oxygen" },
      acvpu: { type: "string", arg: "A|C|V|P|U", help: "level of consciousness" },
      "spo2-scale": { type: "string", arg: "1|2", help: "the NEWS2 SpO2 scale in use" },
      "observed-at": { type: "string", arg: "ISO", help: "when it was observed (default now)" },
      as: {
        type: "string",
        arg: "CONSUMER",
        help: "enter it through the MQTT command topic as this consumer",
      },
    },
  },
  news2: {
    name: "news2",
    maxPositionals: 0,
    summary: "current NEWS2 per subject, complete or not (running daemon)",
    synopsis: ["--config FILE [--subject S] [--json]"],
    options: {
      config,
      subject: { type: "string", arg: "S", help: "only this subject" },
      json: { type: "boolean", help: "print the daemon's reply as JSON" },
    },
  },
  rules: {
    name: "rules",
    summary: "threshold limits in force after merging; a patient's own limits (logged)",
    synopsis: [
      "show --config FILE [--subject ID] [--json]",
      "set --config FILE --subject ID --vital V [--low TIERS] [--high TIERS] [--hysteresis N] [--clear-sec N] [--enabled true|false] --by USER --why TEXT",
      "reset --config FILE --subject ID [--vital V] --by USER --why TEXT",
    ],
    options: {
      config,
      subject: { type: "string", arg: "ID", help: "the subject whose limits are shown or changed" },
      json: { type: "boolean", default: false, help: "print as JSON" },
      vital: { type: "string", arg: "V", help: "the vital sign (e.g. spo2, heart_rate)" },
      low: { type: "string", arg: "TIERS", help: "low limits, LIMIT:PRIORITY:DELAY_SEC,… or none" },
      high: { type: "string", arg: "TIERS", help: "high limits, LIMIT:PRIORITY:DELAY_SEC,… or none" },
      hysteresis: { type: "string", arg: "N", help: "how far back past a limit a value must come to clear" },
      "clear-sec": { type: "string", arg: "N", help: "how long a value must stay clear to resolve" },
      enabled: {
        type: "string",
        arg: "true|false",
        help: "turn the vital's alarms on or off for this subject",
      },
      by,
      why: { type: "string", arg: "TEXT", help: "the clinical reason, recorded with the change" },
    },
    notes: ["TIERS example: 88:medium:15,85:high:5"],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMAND_SPECS;

/** Exit codes, for `vitalog --help` (the catalog in errors.ts maps each error code to one of them). */
export const EXIT_CODES_NOTE =
  "exit codes: 0 ok, 1 failure, 2 unusable input, 64 usage, 69 ledger/sink/gateway unavailable, 70 integrity,\n" +
  "74 storage or output, 75 try again later, 77 user refused (--by), 78 config, 141 output closed by its reader";
