/**
 * The users the gateway vouches for: the `users` table checked row by row against the user events of the
 * tamper-evident log (users/user-events.ts, replayed as `vitalog audit` does: batcher/tlog/audit-users.ts). A row
 * whose role, enabled state, display name or credential is not what its logged events make it, or a row the
 * log never added, is not in the directory: whoever it names is refused as `unknown_user`, and the row is
 * logged as tampering. Without the log (`tlog.enabled: false`) nothing can be checked: the rows are taken as
 * they are.
 *
 * Contract:
 * - The daemon holds one directory, loaded at start (like the alert restore) and refreshed only when told:
 *   the `users_changed` control op a `vitalog users` command sends after its change commits. An edit of the
 *   table behind the gateway's back therefore never takes effect in the running daemon, and after a refresh
 *   or a restart the edited row is refused.
 * - A refresh replays only the events logged since the previous one (the replay state is kept), so it stays
 *   short however long the log is. It MUST NOT be called inside a transaction.
 * - The CLI loads a directory of its own for each command (`loadUserDirectory`): the same check, the same
 *   answer.
 */
import type { Database } from "better-sqlite3";
import { scanLoggedEvents } from "../batcher/tlog/audit-events.js";
import {
  USER_ROW_COLUMNS,
  UserEventReplay,
  type UserRow,
  userRowDiffs,
} from "../batcher/tlog/audit-users.js";
import type { SubjectKeys } from "../batcher/tlog/subject-keys.js";

/** A user the directory vouches for (the shape the alarm commands and the limit changes read). */
export interface DirectoryUser {
  readonly id: string;
  readonly role: string;
  readonly isEnabled: boolean;
}

/** A row the directory refuses, and why (for the tampering log line). */
export interface RefusedUserRow {
  readonly id: string;
  readonly detail: string;
}

/** What a (re)load found. */
export interface DirectoryLoad {
  /** Users vouched for. */
  readonly users: number;
  /** Rows refused: they do not match their logged events. */
  readonly refused: readonly RefusedUserRow[];
}

/** The log the rows are checked against: its connection and the keys that open its events. */
export interface UserEventSource {
  readonly db: Database;
  readonly keys: SubjectKeys;
}

/**
 * Events are scanned again from this long before the previous scan began: an event's id carries its writer's
 * clock, and a `vitalog users` command and the daemon read the same host clock, so a margin this wide only
 * matters when that clock was stepped back. Local engineering choice, to be reviewed.
 */
const RESCAN_MARGIN_MS = 10 * 60_000;

export class UserDirectory {
  readonly #source: UserEventSource | undefined;
  readonly #now: () => number;
  readonly #replay = new UserEventReplay();
  readonly #users = new Map<string, DirectoryUser>();
  #lastLeaf = -1;
  #lastScanAtMs: number | undefined;
  #rows = 0;
  readonly #readRows;

  /** `db`: the connection the `users` table is read on. `source`: the log, absent when it is off. */
  constructor(db: Database, source: UserEventSource | undefined, now: () => number = Date.now) {
    this.#source = source;
    this.#now = now;
    this.#readRows = db.prepare<[], UserRow>(`SELECT ${USER_ROW_COLUMNS} FROM users`);
  }

  /** The user with this id (compared regardless of case), when the directory vouches for them. */
  get(id: string): DirectoryUser | undefined {
    return this.#users.get(id.toLowerCase());
  }

  /** Every user the directory vouches for. */
  list(): DirectoryUser[] {
    return [...this.#users.values()];
  }

  /**
   * True when no user exists at all: no row and, with the log on, no logged user (a fresh installation).
   * Deleting every row does not make a store with logged users empty.
   */
  get isEmpty(): boolean {
    return this.#rows === 0 && this.#replay.users.size === 0;
  }

  /** Reads the table again and checks each row against the events logged since the last load. */
  reload(): DirectoryLoad {
    if (this.#source !== undefined) {
      const startedAtMs = this.#now();
      const since =
        this.#lastScanAtMs === undefined ? {} : { sinceMs: this.#lastScanAtMs - RESCAN_MARGIN_MS };
      scanLoggedEvents(
        this.#source.db,
        this.#source.keys,
        (e) => {
          if (e.leafIndex <= this.#lastLeaf) return;
          this.#lastLeaf = e.leafIndex;
          // a replay problem (an event of a user never added) is audit's to name; the rows decide here
          this.#replay.apply(e);
        },
        since,
      );
      this.#lastScanAtMs = startedAtMs;
    }
    const rows = this.#readRows.all();
    this.#rows = rows.length;
    this.#users.clear();
    const refused: RefusedUserRow[] = [];
    for (const r of rows) {
      const key = r.id.toLowerCase();
      if (this.#source !== undefined) {
        const logged = this.#replay.users.get(key);
        if (logged === undefined) {
          refused.push({ id: r.id, detail: "no logged user_added: inserted behind the gateway's back" });
          continue;
        }
        const diffs = userRowDiffs(logged, r);
        if (diffs.length > 0) {
          refused.push({ id: r.id, detail: diffs.join("; ") });
          continue;
        }
      }
      this.#users.set(key, { id: r.id, role: r.role, isEnabled: r.is_enabled === 1 });
    }
    return { users: this.#users.size, refused };
  }
}
