/**
 * What the operator sees when a command fails: one line with a catalog code (errors.ts) and the exit code of
 * that code. A `GatewayError` says it itself; an error from Node about a listening address is a configuration
 * problem with a code of its own; anything else is INTERNAL_ERROR, its stack kept for the log at debug.
 */
import { ERROR_CODES, type ErrorCode, GatewayError } from "../errors.js";

export interface Failure {
  code: ErrorCode;
  /** One line. */
  message: string;
  exitCode: number;
}

/** Node's errno errors from listen(2): `address`/`port` name what could not be bound. */
interface ListenError extends NodeJS.ErrnoException {
  address?: string;
  port?: number;
}

/** The one-line failure for any thrown value. */
export function failureOf(err: unknown): Failure {
  // a GatewayError's message is written for the operator (a config's problems come one per line, each complete)
  if (err instanceof GatewayError) return { code: err.code, message: err.message, exitCode: err.exitCode };
  const listen = listenFailure(err);
  if (listen) return listen;
  const file = fileFailure(err);
  if (file) return file;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { code: "INTERNAL_ERROR", message: oneLine(message), exitCode: ERROR_CODES.INTERNAL_ERROR.exitCode };
}

/** A listen(2) failure on a configured address, or null when `err` is something else. */
export function listenFailure(err: unknown): Failure | null {
  const e = err as ListenError | null;
  if (!e || typeof e !== "object" || e.syscall !== "listen") return null;
  const where = e.port === undefined ? (e.address ?? "?") : `${e.address ?? "*"}:${e.port}`;
  if (e.code === "EADDRINUSE") {
    return {
      code: "ADDRESS_IN_USE",
      message: `${where} is already in use by another process: stop it, or choose another port in the config`,
      exitCode: ERROR_CODES.ADDRESS_IN_USE.exitCode,
    };
  }
  if (e.code === "EADDRNOTAVAIL" || e.code === "EACCES") {
    return {
      code: "ADDRESS_UNAVAILABLE",
      message: `${where} cannot be bound here (${e.code}): use an address of this host, or a port above 1023`,
      exitCode: ERROR_CODES.ADDRESS_UNAVAILABLE.exitCode,
    };
  }
  return null;
}

/** A file the command was told to read or write (`--out`, `--config`'s paths) that the system refuses. */
function fileFailure(err: unknown): Failure | null {
  const e = err as NodeJS.ErrnoException | null;
  if (!e || typeof e !== "object" || typeof e.path !== "string" || typeof e.code !== "string") return null;
  const why: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EISDIR: "is a directory",
    ENOTDIR: "a part of the path is not a directory",
    ENOSPC: "no space left on the device",
    EROFS: "read-only file system",
  };
  const reason = why[e.code];
  if (reason === undefined) return null;
  return {
    code: "FILE_UNUSABLE",
    message: `${e.path}: ${reason} (${e.syscall ?? "access"})`,
    exitCode: ERROR_CODES.FILE_UNUSABLE.exitCode,
  };
}

/** The first line: the rest of an unexpected error's text is its stack, which belongs to the log. */
function oneLine(message: string): string {
  return message.split("\n", 1)[0]!.trimEnd();
}
