import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Hex } from "viem";
import { ANVIL_KEYS, type AnvilNode, startAnvil, writeKeyFile } from "../../src/anchor/anvil.js";
import type { AnchorSection } from "../../src/anchor/bundle-anchor.js";
import { waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";
import {
  type AnchorGatewayFiles,
  anchoredEvents,
  cli,
  eventually,
  type GatewayStatus,
  gatewayStatus,
  publishReadings,
  query,
  startAnchorGateway,
  storedCheckpoints,
} from "./gateway-helpers.js";

const BLOCK_TIME_SEC = 0.5;

/** Anchoring through the real gateway (`vitalog run` child), a real anvil and the real CLI. */
describe("gateway anchoring end to end (vitalog run + anvil)", () => {
  const dir = tempDir("vitalog-anchor-e2e-");
  const statePath = join(dir, "anvil-state.json");
  let node: AnvilNode;
  let registry: Hex;
  let gateway: ChildProcess;
  let mqttPort: number;
  let adminPort: number;
  let files: AnchorGatewayFiles;
  let account: Hex;
  let outageFirstReading = "";

  const status = () => gatewayStatus(adminPort);
  const isSettled = (s: GatewayStatus) =>
    s.anchor.pending === null &&
    s.tlog.checkpoint_size === s.tlog.tree_size &&
    s.anchor.last_final?.tree_size === String(s.tlog.checkpoint_size);
  const nonce = async () =>
    Number(BigInt(await node.rpc<Hex>("eth_getTransactionCount", [account, "latest"])));

  before(async () => {
    node = await startAnvil({ blockTimeSec: BLOCK_TIME_SEC, statePath });
    registry = node.registry!;
    ({
      child: gateway,
      mqttPort,
      adminPort,
      files,
    } = await startAnchorGateway(dir, {
      rpcUrl: node.rpcUrl,
      contract: registry,
      keyFile: writeKeyFile(dir, ANVIL_KEYS[1]!),
    }));
  });

  after(async () => {
    if (gateway.exitCode === null && gateway.signalCode === null) {
      gateway.kill("SIGKILL");
      await waitExit(gateway);
    }
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("anchors readings published over MQTT; the Anchored event decodes to the signed checkpoint", async () => {
    await publishReadings(mqttPort, 0, 20);
    const s = await eventually(status, (v) => isSettled(v) && v.readings_accepted === 20, "FINAL anchor");
    account = (s.anchor as unknown as { account: Hex }).account;
    const size = s.tlog.checkpoint_size;
    const cp = storedCheckpoints(files.dbPath).find((c) => c.size === size)!;
    const events = await anchoredEvents(node);
    const mine = events.filter((e) => e.checkpointHash === cp.hash);
    assert.equal(mine.length, 1, "the newest checkpoint is anchored exactly once");
    assert.equal(mine[0]!.treeSize, BigInt(size));
    const { root } = query<{ root: Uint8Array }>(
      files.dbPath,
      "SELECT root FROM tlog_checkpoints WHERE size = ?",
      size,
    )[0]!;
    assert.equal(mine[0]!.rootHash, `0x${Buffer.from(root).toString("hex")}`);
    const hashes = events.map((e) => e.checkpointHash);
    assert.equal(new Set(hashes).size, hashes.length, "no checkpoint anchored twice");
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    assert.match(metrics, /vitalog_anchor_final_total [1-9]/);
    assert.match(metrics, new RegExp(`vitalog_anchor_last_final_tree_size ${size}\\b`));
    assert.match(metrics, /vitalog_anchor_state\{state="final"\} [1-9]/);
  });

  it("keeps ingesting and checkpointing while the ledger is down, then catches up with one transaction", async () => {
    const before = await status();
    const nonceBefore = await nonce();
    const port = node.port;
    await node.stop(); // ledger down; anvil dumps its chain to statePath
    // every PUBACK arrives: ingest does not wait for the ledger; two batches, two checkpoints at least
    await publishReadings(mqttPort, 100, 10);
    await eventually(
      status,
      (v) =>
        v.tlog.checkpoint_size === v.tlog.tree_size && v.tlog.checkpoint_size > before.tlog.checkpoint_size,
      "a checkpoint during the outage",
    );
    await publishReadings(mqttPort, 110, 10);
    outageFirstReading = query<{ id: string }>(
      files.dbPath,
      "SELECT id FROM readings ORDER BY row_id LIMIT 1 OFFSET 20",
    )[0]!.id;
    const down = await eventually(
      status,
      (v) =>
        v.tlog.checkpoint_size === v.tlog.tree_size &&
        v.tlog.tree_size >= before.tlog.tree_size + 20 &&
        v.anchor.pending?.tree_size === String(v.tlog.checkpoint_size),
      "checkpoints during the outage",
    );
    assert.equal(down.readings_accepted, 40);
    assert.equal(down.anchor.pending!.state, "queued");
    assert.equal(down.anchor.counts.queued, 1, "one queued item: the newest checkpoint");
    assert.equal(down.anchor.last_error?.reason, "ledger_unreachable");
    const cliStatus = await cli("status", "--config", files.configFile);
    assert.equal(cliStatus.status, 0, cliStatus.stderr);
    const shown = JSON.parse(cliStatus.stdout) as GatewayStatus;
    assert.equal(shown.anchor.pending?.state, "queued");
    assert.equal(shown.anchor.last_final?.tree_size, before.anchor.last_final?.tree_size);

    node = await startAnvil({ port, statePath, blockTimeSec: BLOCK_TIME_SEC, isRegistryDeployed: false });
    const up = await eventually(status, isSettled, "catch-up after the outage");
    assert.equal(up.tlog.checkpoint_size, down.tlog.checkpoint_size);
    assert.equal(await nonce(), nonceBefore + 1, "a single transaction");
    const newest = storedCheckpoints(files.dbPath).at(-1)!;
    const events = (await anchoredEvents(node)).filter((e) => e.checkpointHash === newest.hash);
    assert.equal(events.length, 1, "it carries the newest checkpoint");
    assert.equal(up.anchor.last_error, null);
  });

  it("writes proofs with anchor evidence that `vitalog verify` accepts offline, after the ledger is gone", async () => {
    gateway.kill("SIGTERM");
    assert.equal((await waitExit(gateway)).code, 0);
    await node.stop();
    const vkey = (await cli("keys", "show", "--config", files.configFile)).stdout.trim();
    const first = query<{ id: string }>(files.dbPath, "SELECT id FROM readings ORDER BY row_id LIMIT 1")[0]!
      .id;
    for (const [name, id] of [
      ["first", first],
      ["outage", outageFirstReading],
    ] as const) {
      const file = join(dir, `${name}.proof.json`);
      const proof = await cli("proof", id, "--config", files.configFile, "--out", file);
      assert.equal(proof.status, 0, proof.stderr);
      const bundle = JSON.parse(readFileSync(file, "utf8")) as { anchor: AnchorSection };
      assert.equal(bundle.anchor.format, "vitalog-anchor/v1");
      assert.equal(bundle.anchor.evidence.version, "vitalog-evm-anchor-evidence/v1");
      if (name === "outage") {
        // its own checkpoint was signed during the outage and superseded: proven into the anchored one
        assert.ok(bundle.anchor.consistency.length > 0);
      }
      const v = await cli("verify", file, "--vkey", vkey, "--chain-id", "31337", "--contract", registry);
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /^VALID: reading /);
      assert.match(
        v.stdout,
        /existed no later than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(block \d+, chain 31337\)/,
      );
    }
  });

  it("rejects tampered anchor evidence offline and names the failing step", async () => {
    const vkey = (await cli("keys", "show", "--config", files.configFile)).stdout.trim();
    const good = JSON.parse(readFileSync(join(dir, "outage.proof.json"), "utf8")) as {
      anchor: AnchorSection;
    };
    const other = query<{ evidence: string; tree_size: number }>(
      files.dbPath,
      "SELECT evidence, tree_size FROM anchor_items WHERE state = 'final' ORDER BY tree_size LIMIT 1",
    )[0]!;
    assert.notEqual(String(other.tree_size), good.anchor.evidence.treeSize);
    const flip = (hex: Hex, at: number): Hex => {
      const i = 2 + at * 2;
      const byte = (Number.parseInt(hex.slice(i, i + 2), 16) ^ 0x01).toString(16).padStart(2, "0");
      return `${hex.slice(0, i)}${byte}${hex.slice(i + 2)}` as Hex;
    };
    const cases: { name: string; step: string; tamper: (a: AnchorSection) => void; flags?: string[] }[] = [
      {
        name: "a changed receipt byte",
        step: "receipt_proof",
        tamper: (a) => {
          a.evidence.receiptRlp = flip(a.evidence.receiptRlp, 40);
        },
      },
      {
        name: "a wrong block hash",
        step: "header_hash",
        tamper: (a) => {
          a.evidence.blockHash = flip(a.evidence.blockHash, 31);
        },
      },
      {
        name: "the event of another checkpoint",
        step: "event_tree_size",
        tamper: (a) => {
          a.evidence = JSON.parse(other.evidence);
        },
      },
      {
        name: "an anchored checkpoint the log key did not sign",
        step: "anchored_checkpoint",
        tamper: (a) => {
          a.checkpoint = a.checkpoint.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`);
        },
      },
      {
        name: "a changed consistency proof",
        step: "consistency",
        tamper: (a) => {
          const h = Buffer.from(a.consistency[0]!, "base64");
          h[0] = h[0]! ^ 0x01;
          a.consistency[0] = h.toString("base64");
        },
      },
      {
        name: "a block other than the auditor's trusted one",
        step: "block_hash",
        tamper: () => {},
        flags: ["--block-hash", `0x${"ab".repeat(32)}`],
      },
    ];
    for (const c of cases) {
      const bundle = structuredClone(good);
      c.tamper(bundle.anchor);
      const file = join(dir, `tampered-${c.step}.json`);
      writeFileSync(file, JSON.stringify(bundle));
      const v = await cli("verify", file, "--vkey", vkey, "--chain-id", "31337", ...(c.flags ?? []));
      assert.equal(v.status, 1, `${c.name}: ${v.stdout}${v.stderr}`);
      assert.match(v.stdout, new RegExp(`INVALID: reading \\S+: step anchor \\(${c.step}\\) failed`), c.name);
      assert.match(v.stdout, new RegExp(`FAIL anchor +${c.step}: `), c.name);
    }
  });
});
