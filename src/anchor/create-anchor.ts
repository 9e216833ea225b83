/**
 * Checkpoint anchoring as a part of the gateway (`createAnchor(deps)`, wired by the composition root):
 * the durable Publisher over the gateway database, fed with every signed checkpoint through the
 * checkpoint feed, run as the `anchor` service, with metrics, status and a log line per transition.
 *
 * Outage policy (reference/transparency-log.md, anchoring): nothing here is on the ingest or alert path. `offer` is a synchronous
 * SQLite write; the ledger is contacted only by the publisher's own loop. The gateway starts while the
 * ledger is unreachable: the chain id is checked in the background (every `outageRetrySec`) and the
 * publisher starts once it matches; checkpoints queue meanwhile (one queued item, the newest).
 */

import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { CheckpointFeed, CheckpointHead } from "../core/ports.js";
import type { Service } from "../core/service.js";
import type { Db } from "../db.js";
import { GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { AnchorError, type CheckpointInput } from "./anchor.js";
import { evmLedgerConfig, publisherConfig } from "./anchor-config.js";
import type { EvmLedger } from "./evm-ledger.js";
import type { Publisher, PublisherEvent, PublisherStatus } from "./publisher.js";
import { ANCHOR_STATES } from "./publisher-store.js";

/** The attached anchor, for tests and other subsystems. */
export interface AttachedAnchor {
  readonly publisher: Publisher;
  readonly ledger: EvmLedger;
  readonly service: AnchorService;
}

/** A stored checkpoint as the anchor's input (the note verbatim; size and root as signed). */
export function checkpointInput(origin: string, cp: CheckpointHead): CheckpointInput {
  return { origin, treeSize: BigInt(cp.size), rootHash: cp.root, noteText: cp.note };
}

/** What `createAnchor` needs: its config slice, the main connection and the log's signed checkpoints. */
export interface AnchorDeps {
  readonly config: Readonly<Config["anchor"]>;
  /** Where a relative ledger key path is resolved (`gateway.stateDir`). */
  readonly stateDir: string;
  readonly db: Db;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The log's signed checkpoints; undefined when the log is off (anchoring then refuses to start). */
  readonly checkpoints: { readonly feed: CheckpointFeed; readonly origin: string } | undefined;
}

/** Anchoring's parts for the composition root. */
export interface AnchorParts {
  readonly anchor: AttachedAnchor;
  readonly services: readonly Service[];
  readonly healthChecks: Readonly<Record<string, () => string | undefined>>;
}

/**
 * Builds anchoring when `anchor.enabled`; undefined when it is off.
 * @throws GatewayError CONFIG_INVALID when the tamper-evident log is off, KEY_FILE_* for the ledger key.
 */
export async function createAnchor(deps: AnchorDeps): Promise<AnchorParts | undefined> {
  const { config, clock } = deps;
  if (!config.enabled) return undefined;
  const log = deps.log.child({ module: "anchor" });
  if (deps.checkpoints === undefined) {
    throw new GatewayError(
      "CONFIG_INVALID",
      "anchor.enabled needs tlog.enabled: true (only signed checkpoints are anchored)",
      { details: [{ path: "anchor.enabled", message: "requires tlog.enabled" }] },
    );
  }
  // the EVM client library (viem) is tens of MB of heap: loaded only on gateways that anchor
  const [{ EvmLedger }, { Publisher }] = await Promise.all([
    import("./evm-ledger.js"),
    import("./publisher.js"),
  ]);
  const ledger = EvmLedger.open(evmLedgerConfig(config, deps.stateDir));
  const publisher = new Publisher(deps.db, ledger, publisherConfig(config), clock);
  const { feed, origin } = deps.checkpoints;
  const service = new AnchorService({
    publisher,
    ledger,
    checkpoints: feed,
    origin,
    clock,
    log,
    metrics: deps.metrics,
    outageRetryMs: config.outageRetrySec * 1000,
  });
  feed.onCheckpoint((cp) => service.offer(cp));
  log.info(
    { ledger: ledger.name, account: ledger.address, finality: ledger.finality, rpcUrl: config.rpcUrl },
    "anchoring attached",
  );
  return {
    anchor: { publisher, ledger, service },
    services: [service],
    // an outage is retried and shows in the anchor metrics; a refusal (e.g. wrong chain id) needs an operator
    healthChecks: {
      anchor: () => (service.halted === null ? undefined : `anchoring halted: ${service.halted}`),
    },
  };
}

interface AnchorServiceOptions {
  publisher: Publisher;
  ledger: EvmLedger;
  checkpoints: CheckpointFeed;
  origin: string;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  outageRetryMs: number;
}

/** The `anchor` service: connects in the background, runs the publisher, mirrors it into metrics. */
export class AnchorService implements Service {
  readonly name = "anchor";
  readonly #opts: AnchorServiceOptions;
  readonly #metrics: ReturnType<typeof anchorMetrics>;
  #isConnected = false;
  #isStopped = false;
  #halted: string | null = null;
  #timer: unknown;
  #lastLoggedReason: string | null = null;
  #unsubscribe: () => void = () => {};

  constructor(opts: AnchorServiceOptions) {
    this.#opts = opts;
    this.#metrics = anchorMetrics(opts.metrics);
    this.#metrics.connected(0);
  }

  /** Why anchoring stopped for good (the ledger refused us), or null. */
  get halted(): string | null {
    return this.#halted;
  }

  /** Offers a signed checkpoint; synchronous, never throws (checkpointer listener). */
  offer(cp: CheckpointHead): void {
    const isAccepted = this.#opts.publisher.offer(checkpointInput(this.#opts.origin, cp));
    this.#metrics.offered({ outcome: isAccepted ? "accepted" : "refused" });
    this.#opts.log.debug({ treeSize: cp.size, isAccepted }, "checkpoint offered for anchoring");
    this.#refresh();
  }

  async start(): Promise<void> {
    this.#unsubscribe = this.#opts.publisher.on((e) => this.#onEvent(e));
    // A checkpoint signed just before a crash may never have been offered: offer the newest again
    // (idempotent per checkpoint hash).
    const latest = this.#opts.checkpoints.latest();
    if (latest !== undefined) this.offer(latest);
    this.#refresh();
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#isStopped = true;
    if (this.#timer !== undefined) this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#opts.publisher.stop();
    this.#unsubscribe();
  }

  /** Checks the chain id (retrying while unreachable), then starts the publisher's loop. */
  async #connect(): Promise<void> {
    const { ledger, publisher, log } = this.#opts;
    try {
      await ledger.checkChainId();
    } catch (err) {
      if (this.#isStopped) return;
      const reason = err instanceof AnchorError ? err.reason : "internal";
      if (err instanceof AnchorError && !err.retryable) {
        this.#halted = `${reason}: ${err.message}`;
        this.#metrics.errors({ reason });
        log.error({ err, reason, details: err.details }, "anchoring halted: ledger refused");
        return;
      }
      publisher.noteError(reason, err instanceof Error ? err.message : String(err));
      this.#timer = this.#opts.clock.setTimeout(() => {
        this.#timer = undefined;
        void this.#connect();
      }, this.#opts.outageRetryMs);
      return;
    }
    if (this.#isStopped) return;
    this.#isConnected = true;
    this.#metrics.connected(1);
    log.info({ ledger: ledger.name }, "ledger connected; anchoring started");
    publisher.start();
  }

  #onEvent(e: PublisherEvent): void {
    const { log } = this.#opts;
    if (e.type === "state") {
      if (this.#lastLoggedReason !== null)
        log.info({ ledger: this.#opts.ledger.name }, "anchoring recovered");
      this.#lastLoggedReason = null;
      this.#metrics.transitions({ state: e.state });
      log.info({ treeSize: e.treeSize.toString(), state: e.state, txHash: e.txHash }, "anchor state");
      if (e.state === "final") this.#metrics.finals();
    } else {
      this.#metrics.errors({ reason: e.reason });
      // An outage repeats the same error every retry: log it once, then at debug until it changes.
      const level = e.reason === this.#lastLoggedReason ? "debug" : "warn";
      log[level]({ reason: e.reason, detail: e.message }, "anchor error");
      this.#lastLoggedReason = e.reason;
    }
    this.#refresh();
  }

  #refresh(): void {
    const s = this.#opts.publisher.status();
    for (const state of ANCHOR_STATES) this.#metrics.state(s.counts[state], { state });
    this.#metrics.pendingTreeSize(s.pending ? Number(s.pending.tree_size) : 0);
    if (s.last_final) {
      this.#metrics.lastFinalTreeSize(Number(s.last_final.tree_size));
      this.#metrics.lastFinalBlock(Number(s.last_final.block_number));
      this.#metrics.lastFinalTimestamp(s.last_final.block_timestamp);
    }
  }

  status(): { enabled: true; connected: boolean; halted: string | null; account: string } & PublisherStatus {
    return {
      enabled: true,
      connected: this.#isConnected,
      halted: this.#halted,
      account: this.#opts.ledger.address,
      ...this.#opts.publisher.status(),
    };
  }
}

/** The anchor's metric families (names are wire strings; only ever added to). */
function anchorMetrics(m: Metrics) {
  return {
    state: m.gauge("vitalog_anchor_state", "Anchor items per publisher state"),
    transitions: m.counter("vitalog_anchor_transitions_total", "Anchor state transitions, by new state"),
    finals: m.counter("vitalog_anchor_final_total", "Anchors that reached FINAL"),
    errors: m.counter("vitalog_anchor_errors_total", "Anchoring errors, by reason"),
    offered: m.counter("vitalog_anchor_offered_total", "Signed checkpoints offered for anchoring"),
    connected: m.gauge("vitalog_anchor_ledger_connected", "1 once the ledger's chain id was checked"),
    pendingTreeSize: m.gauge(
      "vitalog_anchor_pending_tree_size",
      "Tree size of the checkpoint queued or in flight (0: none)",
    ),
    lastFinalTreeSize: m.gauge("vitalog_anchor_last_final_tree_size", "Tree size of the last FINAL anchor"),
    lastFinalBlock: m.gauge("vitalog_anchor_last_final_block", "Block number of the last FINAL anchor"),
    lastFinalTimestamp: m.gauge(
      "vitalog_anchor_last_final_timestamp_seconds",
      "Block timestamp of the last FINAL anchor (Unix seconds)",
    ),
  };
}
