import { type Logger, pino } from "pino";

export type { Logger };

/** Log levels accepted in the config. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The root logger: pino JSON to stdout (or the given destination), secrets and patient identifiers
 * redacted. Modules take a child logger (`log.child({ module: "ingest" })`); nothing imports a global.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { svc: "vitalog" },
      redact: {
        paths: [
          "password",
          "*.password",
          "secret",
          "*.secret",
          "subjectId",
          "*.subjectId",
          "subject",
          "*.subject",
        ],
        censor: "[redacted]",
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
