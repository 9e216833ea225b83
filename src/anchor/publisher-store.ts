/**
 * SQLite persistence of the anchor publisher (reference §6.3–6.4): one row per offered checkpoint
 * with its state, and every signed transaction (raw bytes, nonce, fees) recorded BEFORE it is
 * broadcast, so a restart can always reconcile. All writes are synchronous; no transaction spans an
 * await. The caller owns the Database and applies ANCHOR_MIGRATION. The publisher sees this only as
 * `AnchorRecords` (publisher-records.ts): its writes arrive as typed commands applied here.
 */
import type { Database, Statement } from "better-sqlite3";
import { ANCHOR_STATES, type AnchorState } from "./anchor-publisher.js";
import type { AnchorRecords, AnchorWrite, ItemRow, NewItem, TxRow } from "./publisher-records.js";

export { ANCHOR_STATES, type AnchorState } from "./anchor-publisher.js";
export type { ItemRow, TxRow } from "./publisher-records.js";

/** Migration `anchor_publisher` of the numbered migrations (src/migrations.ts). Tables are STRICT. */
export const ANCHOR_MIGRATION = `
CREATE TABLE anchor_items (
  id INTEGER PRIMARY KEY,
  ledger TEXT NOT NULL,
  origin TEXT NOT NULL,
  tree_size INTEGER NOT NULL CHECK (tree_size > 0),
  root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
  note_text TEXT NOT NULL,
  checkpoint_hash BLOB NOT NULL UNIQUE CHECK (length(checkpoint_hash) = 32),
  state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'mined', 'final', 'reorged', 'superseded', 'rejected')),
  nonce INTEGER,
  tx_hash TEXT,
  block_number INTEGER,
  block_hash TEXT,
  evidence TEXT,
  error TEXT,
  queued_at_ms INTEGER NOT NULL,
  sent_at_ms INTEGER,
  final_at_ms INTEGER,
  updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX anchor_items_state ON anchor_items (state, tree_size);
CREATE TABLE anchor_txs (
  tx_hash TEXT PRIMARY KEY,
  item_id INTEGER NOT NULL REFERENCES anchor_items (id),
  nonce INTEGER NOT NULL,
  raw TEXT NOT NULL,
  max_fee_per_gas TEXT NOT NULL,
  max_priority_fee_per_gas TEXT NOT NULL,
  first_sent_at_ms INTEGER NOT NULL,
  last_sent_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX anchor_txs_nonce ON anchor_txs (nonce);
`;

type Raw = Record<string, unknown>;
const num = (v: unknown): number | null => (v === null ? null : Number(v));

function toItem(r: Raw): ItemRow {
  return {
    id: Number(r.id),
    ledger: r.ledger as string,
    origin: r.origin as string,
    treeSize: r.tree_size as bigint,
    rootHash: new Uint8Array(r.root_hash as Uint8Array),
    noteText: r.note_text as string,
    checkpointHash: new Uint8Array(r.checkpoint_hash as Uint8Array),
    state: r.state as AnchorState,
    nonce: num(r.nonce),
    txHash: r.tx_hash as string | null,
    blockNumber: r.block_number as bigint | null,
    blockHash: r.block_hash as string | null,
    evidence: r.evidence as string | null,
    error: r.error as string | null,
    queuedAtMs: Number(r.queued_at_ms),
    sentAtMs: num(r.sent_at_ms),
    finalAtMs: num(r.final_at_ms),
  };
}

function toTx(r: Raw): TxRow {
  return {
    txHash: r.tx_hash as string,
    itemId: Number(r.item_id),
    nonce: Number(r.nonce),
    raw: r.raw as string,
    maxFeePerGas: BigInt(r.max_fee_per_gas as string),
    maxPriorityFeePerGas: BigInt(r.max_priority_fee_per_gas as string),
    firstSentAtMs: Number(r.first_sent_at_ms),
    lastSentAtMs: Number(r.last_sent_at_ms),
  };
}

/** Prepared statements over the anchor tables; every method is synchronous. */
export class PublisherStore implements AnchorRecords {
  readonly db: Database;
  readonly #statements: Record<string, Statement>;

  constructor(db: Database) {
    this.db = db;
    const p = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.#statements = {
      byHash: p("SELECT * FROM anchor_items WHERE checkpoint_hash = ?"),
      byId: p("SELECT * FROM anchor_items WHERE id = ?"),
      inState: p("SELECT * FROM anchor_items WHERE state = ? ORDER BY tree_size DESC, id DESC"),
      maxSize: p(
        "SELECT max(tree_size) AS m FROM anchor_items WHERE state IN ('sent', 'mined', 'final', 'reorged')",
      ),
      insert:
        p(`INSERT INTO anchor_items (ledger, origin, tree_size, root_hash, note_text, checkpoint_hash, state,
        nonce, queued_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`),
      setState: p("UPDATE anchor_items SET state = ?, error = ?, updated_at_ms = ? WHERE id = ?"),
      setSent: p(
        "UPDATE anchor_items SET state = 'sent', nonce = ?, sent_at_ms = coalesce(sent_at_ms, ?), error = NULL, updated_at_ms = ? WHERE id = ?",
      ),
      lastSentAt: p("SELECT max(sent_at_ms) AS m FROM anchor_items"),
      setQueued: p(
        "UPDATE anchor_items SET state = 'queued', nonce = ?, tx_hash = NULL, block_number = NULL, block_hash = NULL, error = ?, updated_at_ms = ? WHERE id = ?",
      ),
      setMined: p(
        "UPDATE anchor_items SET state = 'mined', nonce = ?, tx_hash = ?, block_number = ?, block_hash = ?, error = NULL, updated_at_ms = ? WHERE id = ?",
      ),
      setFinal: p(
        "UPDATE anchor_items SET state = 'final', evidence = ?, final_at_ms = ?, updated_at_ms = ? WHERE id = ?",
      ),
      counts: p("SELECT state, count(*) AS n FROM anchor_items GROUP BY state"),
      lastFinal: p("SELECT * FROM anchor_items WHERE state = 'final' ORDER BY tree_size DESC LIMIT 1"),
      firstFinalAtLeast: p(
        "SELECT * FROM anchor_items WHERE state = 'final' AND origin = ? AND tree_size >= ? ORDER BY tree_size LIMIT 1",
      ),
      oldestOpen: p(
        "SELECT min(queued_at_ms) AS m FROM anchor_items WHERE state IN ('queued', 'sent', 'mined', 'reorged')",
      ),
      insertTx:
        p(`INSERT INTO anchor_txs (tx_hash, item_id, nonce, raw, max_fee_per_gas, max_priority_fee_per_gas,
        first_sent_at_ms, last_sent_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      txsAtNonce: p("SELECT * FROM anchor_txs WHERE nonce = ? ORDER BY first_sent_at_ms DESC, rowid DESC"),
      txsOfItem: p("SELECT * FROM anchor_txs WHERE item_id = ? ORDER BY rowid DESC"),
      touchTx: p("UPDATE anchor_txs SET last_sent_at_ms = ? WHERE tx_hash = ?"),
      maxNonce: p("SELECT max(nonce) AS m FROM anchor_txs"),
    };
  }

  byHash(hash: Uint8Array): ItemRow | undefined {
    const r = this.#statements.byHash!.get(hash) as Raw | undefined;
    return r && toItem(r);
  }
  byId(id: number): ItemRow | undefined {
    const r = this.#statements.byId!.get(id) as Raw | undefined;
    return r && toItem(r);
  }
  inState(state: AnchorState): ItemRow[] {
    return (this.#statements.inState!.all(state) as Raw[]).map(toItem);
  }
  /** Largest tree size already sent, mined, final or reorged (0 when none). */
  maxCommittedSize(): bigint {
    return ((this.#statements.maxSize!.get() as Raw).m as bigint | null) ?? 0n;
  }
  apply(writes: readonly AnchorWrite[]): void {
    this.db.transaction(() => {
      for (const w of writes) this.#write(w);
    })();
  }

  decideAndApply<T>(decide: () => { result: T; writes: readonly AnchorWrite[] }): T {
    const run = this.db.transaction(() => {
      const { result, writes } = decide();
      for (const w of writes) this.#write(w);
      return result;
    });
    // IMMEDIATE: take the write lock before the reads, so another connection committing between them
    // and the writes cannot fail the transaction (SQLITE_BUSY_SNAPSHOT)
    return run.immediate();
  }

  #write(w: AnchorWrite): void {
    const s = this.#statements;
    switch (w.op) {
      case "insert":
        this.#insert(w.item, w.nonce, w.atMs);
        break;
      case "set_state":
        s.setState!.run(w.state, w.error, w.atMs, w.id);
        break;
      case "queue":
        s.setQueued!.run(w.nonce, w.error, w.atMs, w.id);
        break;
      case "sent":
        this.#insertTx(w.tx);
        s.setSent!.run(w.nonce, w.atMs, w.atMs, w.id);
        break;
      case "mined":
        s.setMined!.run(w.nonce, w.txHash, w.blockNumber, w.blockHash, w.atMs, w.id);
        break;
      case "final":
        s.setFinal!.run(w.evidence, w.atMs, w.atMs, w.id);
        break;
      case "touch_tx":
        s.touchTx!.run(w.atMs, w.txHash);
        break;
    }
  }

  #insert(item: NewItem, nonce: number | null, nowMs: number): void {
    this.#statements.insert!.run(
      item.ledger,
      item.origin,
      item.treeSize,
      item.rootHash,
      item.noteText,
      item.checkpointHash,
      nonce,
      nowMs,
      nowMs,
    );
  }

  counts(): Record<AnchorState, number> {
    const out = Object.fromEntries(ANCHOR_STATES.map((s) => [s, 0])) as Record<AnchorState, number>;
    for (const r of this.#statements.counts!.all() as Raw[]) out[r.state as AnchorState] = Number(r.n);
    return out;
  }
  lastFinal(): ItemRow | undefined {
    const r = this.#statements.lastFinal!.get() as Raw | undefined;
    return r && toItem(r);
  }
  /** The earliest FINAL anchor of `origin` covering a tree of at least `size` leaves. */
  firstFinalAtLeast(origin: string, size: bigint): ItemRow | undefined {
    const r = this.#statements.firstFinalAtLeast!.get(origin, size) as Raw | undefined;
    return r && toItem(r);
  }
  oldestOpenMs(): number | null {
    return num((this.#statements.oldestOpen!.get() as Raw).m);
  }
  #insertTx(t: TxRow): void {
    this.#statements.insertTx!.run(
      t.txHash,
      t.itemId,
      t.nonce,
      t.raw,
      t.maxFeePerGas.toString(),
      t.maxPriorityFeePerGas.toString(),
      t.firstSentAtMs,
      t.lastSentAtMs,
    );
  }
  txsAtNonce(nonce: number): TxRow[] {
    return (this.#statements.txsAtNonce!.all(nonce) as Raw[]).map(toTx);
  }
  txsOfItem(id: number): TxRow[] {
    return (this.#statements.txsOfItem!.all(id) as Raw[]).map(toTx);
  }
  /** When a checkpoint was last sent for the first time (fee bumps and re-sends excluded). */
  lastSentAtMs(): number | null {
    return num((this.#statements.lastSentAt!.get() as Raw).m);
  }
  maxNonce(): number | null {
    return num((this.#statements.maxNonce!.get() as Raw).m);
  }
}
