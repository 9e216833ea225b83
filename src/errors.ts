/**
 * The one catalog of operational error codes. Codes are wire strings: only ever added to, never renamed.
 * Bugs and bad arguments throw TypeError/RangeError instead (see assert.ts).
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { retryable: false, exitCode: 78 },
  CONFIG_SECRET_UNREADABLE: { retryable: false, exitCode: 78 },
  KEY_FILE_INSECURE: { retryable: false, exitCode: 78 },
  KEY_FILE_MISSING: { retryable: false, exitCode: 78 },
  KEY_FILE_EXISTS: { retryable: false, exitCode: 1 },
  /** A state, database or keys directory its group or others may write (they could replace its files). */
  DIRECTORY_INSECURE: { retryable: false, exitCode: 78 },
  STORE_UNAVAILABLE: { retryable: true, exitCode: 74 },
  STORE_CLOSED: { retryable: false, exitCode: 74 },
  /** Free space under the storage watermark: readings are not acknowledged (the device keeps them). */
  STORAGE_LOW: { retryable: true, exitCode: 74 },
  /** A device over its admission budget: its frame is not acknowledged (the device keeps it). */
  INGEST_THROTTLED: { retryable: true, exitCode: 75 },
  MIGRATION_FAILED: { retryable: false, exitCode: 74 },
  DEVICE_UNKNOWN: { retryable: false, exitCode: 1 },
  DEVICE_EXISTS: { retryable: false, exitCode: 1 },
  SUBJECT_UNKNOWN: { retryable: false, exitCode: 1 },
  SUBJECT_ERASED: { retryable: false, exitCode: 1 },
  READING_UNKNOWN: { retryable: false, exitCode: 1 },
  USER_UNKNOWN: { retryable: false, exitCode: 1 },
  USER_EXISTS: { retryable: false, exitCode: 1 },
  INTEGRITY_FAILURE: { retryable: false, exitCode: 70 },
  CHECKPOINT_PENDING: { retryable: true, exitCode: 75 },
  SIGNER_FAILURE: { retryable: false, exitCode: 70 },
  LEDGER_UNAVAILABLE: { retryable: true, exitCode: 69 },
  LEDGER_REJECTED: { retryable: false, exitCode: 69 },
  SINK_UNAVAILABLE: { retryable: true, exitCode: 69 },
  USAGE: { retryable: false, exitCode: 64 },
  /** Another gateway answers on this state directory's control socket (two would write one log). */
  ALREADY_RUNNING: { retryable: false, exitCode: 75 },
  /** The running gateway did not answer on its control socket in time. */
  CONTROL_TIMEOUT: { retryable: true, exitCode: 75 },
  /** The control socket exists but the exchange with the gateway failed. */
  CONTROL_FAILED: { retryable: true, exitCode: 69 },
  /**
   * A listening address of the config (mqtt, admin, …) is taken by another process: a configuration problem
   * (exit 78, so systemd's RestartPreventExitStatus= does not restart into the same collision).
   */
  ADDRESS_IN_USE: { retryable: false, exitCode: 78 },
  /** A listening address of the config cannot be bound here (not a local address, or a privileged port). */
  ADDRESS_UNAVAILABLE: { retryable: false, exitCode: 78 },
  /** A command that asks the running gateway found none answering (EX_UNAVAILABLE). */
  GATEWAY_NOT_RUNNING: { retryable: true, exitCode: 69 },
  /** A file a command was told to read or write cannot be (missing directory, permissions, full disk). */
  FILE_UNUSABLE: { retryable: false, exitCode: 74 },
  /** An optional part a command needs is not installed (the demo's simulators); the message says how to get it. */
  COMPONENT_MISSING: { retryable: false, exitCode: 69 },
  /** A failure no other code describes (a bug): one line for the operator, the stack in the log at debug. */
  INTERNAL_ERROR: { retryable: false, exitCode: 70 },
} as const satisfies Record<string, { retryable: boolean; exitCode: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Operational error with a stable `code`; compare with `instanceof GatewayError` and `code`, never messages. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.retryable = ERROR_CODES[code].retryable;
    this.details = options.details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exitCode;
  }
}
