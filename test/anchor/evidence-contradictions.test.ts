/**
 * Anchor evidence states what it anchors (logId, treeSize, rootHash, checkpointHash) next to the proof of
 * it (header, receipt, receipts-trie proof). The verdict is built from the proof alone, but evidence whose
 * statement contradicts its proof is refused, each field with its own step. A real anchor on a real anvil
 * node, a real signed checkpoint over a real tree, and `vitalog verify` as an auditor runs it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { bytesToHex, type Hex } from "viem";
import { anchorFields, type CheckpointInput } from "../../src/anchor/anchor.js";
import { ANCHOR_SECTION_FORMAT, type AnchorSection } from "../../src/anchor/bundle-anchor.js";
import type { EvmAnchorEvidence } from "../../src/anchor/evidence.js";
import { verifyEvidence } from "../../src/anchor/verify-evidence.js";
import { PROOF_BUNDLE_FORMAT, type ProofBundle } from "../../src/batcher/tlog/proof-bundle.js";
import { base64Encode } from "../../src/batcher/verifier/base64.js";
import { readingRecordText } from "../../src/batcher/verifier/canonical-record.js";
import { signCheckpoint } from "../../src/batcher/verifier/checkpoint.js";
import { commitEntry, ENTRY_DOMAIN } from "../../src/batcher/verifier/commitment.js";
import { inclusionProof, leafHash, memoryReader, rootOf } from "../../src/batcher/verifier/merkle.js";
import { Ed25519Signer } from "../../src/batcher/verifier/signer.js";
import { formatTlogProof } from "../../src/batcher/verifier/tlog-proof.js";
import { cli } from "./gateway-helpers.js";
import { type LedgerEnv, ledgerEnv, tempDir } from "./helpers.js";

const ORIGIN = "ward3.example-hospital.org/vitalog/gw-07";
const SIZE = 3;
const READING = 1;

const sha256 = async (text: string): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));

describe("anchor evidence that contradicts itself", () => {
  let env: LedgerEnv;
  const tmp = tempDir();
  let cp: CheckpointInput;
  let evidence: EvmAnchorEvidence;
  let bundle: ProofBundle & { anchor: AnchorSection };
  let vkey: string;

  before(async () => {
    env = await ledgerEnv();
    const signer = Ed25519Signer.generate(ORIGIN);
    vkey = signer.verifier().toVkey();
    const records = Array.from({ length: SIZE }, (_, i) =>
      readingRecordText({
        id: `r-${i}`,
        deviceId: "wear-001",
        subjectId: "pt-0042",
        seq: i,
        kind: "heart_rate",
        loinc: "8867-4",
        value: 70 + i,
        unit: "/min",
        mdc: null,
        deviceTimeMs: null,
        observedAtMs: 1_763_700_000_000 + i,
        receivedAtMs: 1_763_700_000_100 + i,
        flags: [],
      }),
    );
    const salts = records.map(() => new Uint8Array(randomBytes(32)));
    const leaves = records.map((r, i) => leafHash(commitEntry(salts[i]!, new TextEncoder().encode(r))));
    const root = rootOf(leaves);
    const note = signCheckpoint({ origin: ORIGIN, size: SIZE, root, extensions: [] }, [signer]);
    cp = { origin: ORIGIN, treeSize: BigInt(SIZE), rootHash: root, noteText: note };
    const fields = anchorFields(cp);
    const signed = await env.ledger.sign(
      fields,
      (await env.ledger.nonces()).pending,
      await env.ledger.suggestFees(),
    );
    await env.ledger.broadcast(signed.raw);
    evidence = await env.ledger.evidence(signed.hash, fields);
    bundle = {
      format: PROOF_BUNDLE_FORMAT,
      reading_id: `r-${READING}`,
      opening: { domain: ENTRY_DOMAIN, salt: base64Encode(salts[READING]!), record: records[READING]! },
      tlog_proof: formatTlogProof({
        index: READING,
        inclusion: inclusionProof(READING, SIZE, memoryReader(leaves)),
        checkpoint: note,
      }),
      log: { origin: ORIGIN, vkey },
      anchor: { format: ANCHOR_SECTION_FORMAT, checkpoint: note, consistency: [], evidence },
    };
  });
  after(async () => {
    await env.close();
    tmp.cleanup();
  });

  /** `vitalog verify --json` of the bundle with `evidence` in its anchor section. */
  async function verifyCli(e: unknown, name: string) {
    const file = join(tmp.dir, `${name}.proof.json`);
    writeFileSync(file, JSON.stringify({ ...bundle, anchor: { ...bundle.anchor, evidence: e } }));
    const r = await cli(
      "verify",
      file,
      "--vkey",
      vkey,
      "--chain-id",
      "31337",
      "--contract",
      env.node.registry!,
      "--json",
    );
    rmSync(file);
    return {
      status: r.status,
      verdict: JSON.parse(r.stdout || "null") as Record<string, unknown> | null,
      stderr: r.stderr,
    };
  }

  it("accepts consistent evidence, offline, as the baseline of every case below", async () => {
    assert.equal(verifyEvidence(evidence, cp).ok, true);
    const r = await verifyCli(evidence, "consistent");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.verdict?.valid, true);
    assert.equal(r.verdict?.failed_anchor_step, null);
  });

  const contradictions: { field: keyof EvmAnchorEvidence; step: string; value: () => Promise<string> }[] = [
    {
      field: "logId",
      step: "declared_log_id",
      value: async () => bytesToHex(await sha256("ward4.example-hospital.org/vitalog/gw-07")),
    },
    { field: "treeSize", step: "declared_tree_size", value: async () => String(SIZE + 1) },
    {
      field: "rootHash",
      step: "declared_root_hash",
      value: async () => bytesToHex(await sha256("another tree")),
    },
    {
      field: "checkpointHash",
      step: "declared_checkpoint_hash",
      value: async () => bytesToHex(await sha256("another note")),
    },
  ];

  for (const c of contradictions) {
    it(`refuses evidence whose declared ${c.field} contradicts what it proves (${c.step})`, async () => {
      const declared = await c.value();
      const edited = { ...evidence, [c.field]: declared };
      const direct = verifyEvidence(edited, cp);
      assert.equal(direct.ok, false);
      if (!direct.ok) {
        assert.equal(direct.step, c.step);
        assert.match(direct.reason, new RegExp(`declared ${c.field} ${declared} contradicts the proven `));
      }
      const r = await verifyCli(edited, c.step);
      assert.equal(r.status, 1, `exit 1 (invalid): ${r.stderr}`);
      assert.equal(r.verdict?.valid, false);
      assert.equal(r.verdict?.failed_step, "anchor");
      assert.equal(r.verdict?.failed_anchor_step, c.step);
    });
  }

  it("refuses declared values that are missing or not in their wire form, naming the field", () => {
    const cases: { edit: Partial<Record<keyof EvmAnchorEvidence, unknown>>; step: string }[] = [
      { edit: { logId: undefined }, step: "declared_log_id" },
      { edit: { treeSize: SIZE }, step: "declared_tree_size" },
      { edit: { treeSize: `0${SIZE}` }, step: "declared_tree_size" },
      { edit: { treeSize: "0x3" }, step: "declared_tree_size" },
      { edit: { rootHash: `${evidence.rootHash}00` }, step: "declared_root_hash" },
      { edit: { checkpointHash: evidence.checkpointHash.slice(0, 40) }, step: "declared_checkpoint_hash" },
    ];
    for (const c of cases) {
      const r = verifyEvidence({ ...evidence, ...c.edit }, cp);
      assert.equal(r.ok ? "accepted" : r.step, c.step, JSON.stringify(c.edit));
    }
  });

  it("takes upper-case hex for the same value, which contradicts nothing", () => {
    const upper = (h: Hex) => `0x${h.slice(2).toUpperCase()}`;
    const r = verifyEvidence(
      {
        ...evidence,
        logId: upper(evidence.logId),
        rootHash: upper(evidence.rootHash),
        checkpointHash: upper(evidence.checkpointHash),
      },
      cp,
    );
    assert.equal(r.ok, true, r.ok ? "" : `${r.step}: ${r.reason}`);
  });

  it("still names the proof's own failure first when the event anchors another checkpoint", () => {
    const other = { ...cp, treeSize: BigInt(SIZE + 1) };
    const r = verifyEvidence({ ...evidence, treeSize: String(SIZE + 1) }, other);
    assert.equal(r.ok ? "accepted" : r.step, "event_tree_size");
  });
});
