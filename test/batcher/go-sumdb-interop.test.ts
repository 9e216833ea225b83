/**
 * DESIGN.md: "Existing tools for the C2SP formats (e.g. Go's golang.org/x/mod/sumdb/note and sumdb/tlog)
 * must accept our checkpoints, notes and proofs unchanged." This test proves it with Go itself: it builds
 * test/go/c2sp-interop (Go's note.NewVerifier / note.Open / note.Sign, tlog.RecordHash / CheckRecord /
 * CheckTree), runs a real gateway, publishes readings over MQTT, takes the vkey, the proof bundles and a
 * consistency bundle from the `vitalog` CLI, and feeds them to the Go program unchanged. Then it flips bits
 * and checks that Go rejects each tampered artefact at the right step.
 *
 * Needs the Debian packages golang-go and golang-golang-x-mod-dev (scripts/test.sh installs them).
 * Without them this test FAILS: the interop claim is a requirement, not an option.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { ConsistencyBundle, ProofBundle } from "../../src/batcher/tlog/proof-bundle.js";
import { base64Decode, base64Encode } from "../../src/batcher/verifier/base64.js";
import { commitEntry } from "../../src/batcher/verifier/commitment.js";
import { leafHash } from "../../src/batcher/verifier/merkle.js";
import { parseNote, signNote } from "../../src/batcher/verifier/note.js";
import { Ed25519Signer, parseSkey } from "../../src/batcher/verifier/signer.js";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";
import { cli } from "./tlog-fixture.js";

const GO_SOURCE = resolve(dirname(fileURLToPath(import.meta.url)), "../../../test/go/c2sp-interop");
const GO_XMOD = "/usr/share/gocode/src/golang.org/x/mod/sumdb/note";
const MISSING_GO =
  "Go interop test needs the Debian packages golang-go and golang-golang-x-mod-dev " +
  "(apt-get install -y --no-install-recommends golang-go golang-golang-x-mod-dev; scripts/test.sh installs them)";

interface GoInput {
  vkey: string;
  origin?: string;
  proof: string;
  entry: string;
  leafHash?: string;
  skey?: string;
  consistency?: { old: string; new: string; proof: string[] };
}

interface GoResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<GoResult & { error?: Error }> {
  return new Promise((res) => {
    execFile(cmd, args, { ...opts, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      res(err && code === -1 ? { code, stdout, stderr, error: err } : { code, stdout, stderr });
    });
  });
}

/** Flips one bit of the `byte`-th byte of a base64 string. */
function flipB64(b64: string, byte: number, bit = 0): string {
  const bytes = base64Decode(b64);
  bytes[byte]! ^= 1 << bit;
  return base64Encode(bytes);
}

/** Splits a tlog-proof into its head lines and its checkpoint note. */
function splitProof(proof: string): { head: string[]; note: string } {
  const i = proof.indexOf("\n\n");
  return { head: proof.slice(0, i).split("\n"), note: proof.slice(i + 2) };
}

const joinProof = (head: string[], note: string) => `${head.join("\n")}\n\n${note}`;

describe("Go golang.org/x/mod/sumdb/{note,tlog} accept Vitalog's C2SP artefacts unchanged", () => {
  const work = mkdtempSync(join(tmpdir(), "vitalog-go-interop-"));
  const bin = join(work, "c2sp-interop");
  let t: TestGateway | undefined;
  let vkey: string;
  let skey: string;
  let early: ProofBundle; // first MQTT reading, against the latest checkpoint
  let earlyAtOld: ProofBundle; // the same reading against the first checkpoint (--at)
  let last: ProofBundle; // the last reading (rightmost leaf)
  let setupError: unknown;
  let consistency: NonNullable<GoInput["consistency"]>; // the vitalog-consistency/v1 bundle's notes and proof

  after(async () => {
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function buildGo(): Promise<void> {
    const version = await run("go", ["version"]);
    if (version.code !== 0)
      throw new Error(`${MISSING_GO}: \`go version\` failed: ${version.error?.message ?? version.stderr}`);
    if (!existsSync(GO_XMOD)) throw new Error(`${MISSING_GO}: ${GO_XMOD} is missing`);
    // GOPATH mode against Debian's golang.org/x/mod source: offline, no module proxy, no go.sum.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: work,
      GOCACHE: join(work, "gocache"),
      GOENV: "off",
      GO111MODULE: "off",
      GOPATH: "/usr/share/gocode",
      GOFLAGS: "",
      GOPROXY: "off",
      GOTOOLCHAIN: "local",
      CGO_ENABLED: "0",
    };
    const r = await run("go", ["build", "-o", bin, "."], { cwd: GO_SOURCE, env });
    if (r.code !== 0)
      throw new Error(`go build of ${GO_SOURCE} failed (${version.stdout.trim()}):\n${r.stderr}`);
  }

  /** Runs the Go verifier on one JSON input. */
  function goVerify(input: GoInput): Promise<GoResult> {
    return new Promise((res, rej) => {
      const child = spawn(bin, [], { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.on("error", rej);
      child.on("close", (code) => res({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(JSON.stringify(input));
    });
  }

  async function fillGateway(): Promise<void> {
    t = await startTestGateway({ tlog: { checkpointIntervalSec: 0.05 } });
    const gw = t.gw;
    const ids: string[] = [];
    gw.ingest.addListener({ onReading: (r) => ids.push(r.id) });
    const status = () => gw.status().tlog as { tree_size: number; checkpoint_size: number };
    const checkpointed = async (what: string) => {
      await waitFor(
        () => status().tree_size > 0 && status().checkpoint_size === status().tree_size,
        10_000,
        what,
      );
      return status().checkpoint_size;
    };
    const devices = ["go-a", "go-b"];
    const clients = await Promise.all(devices.map(async (id) => t!.connect(id, await t!.provision(id))));
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const id = devices[i % devices.length]!;
        const pack = [{ bn: `urn:dev:go:${id}:`, bt: 1_763_800_000 + i, n: "hr", u: "beat/min", v: 55 + i }];
        // QoS 1: the PUBACK comes after the reading (and its log entry) is stored
        await clients[i % devices.length]!.publishAsync(`vitalog/dev/${id}/senml`, JSON.stringify(pack), {
          qos: 1,
        });
      }
    };
    await publish(0, 3);
    const oldSize = await checkpointed("first checkpoint");
    await publish(3, 8);
    const newSize = await checkpointed("second checkpoint");
    assert.ok(oldSize < newSize, `${oldSize} < ${newSize}`);
    assert.equal(ids.length, 8);

    // Everything below comes from the CLI in child processes, as an auditor would get it.
    const configFile = join(t.dir, "cli.yaml");
    writeFileSync(
      configFile,
      [
        `gateway: { id: test-gw, origin: test.vitalog.invalid/gw/test-gw, stateDir: ${JSON.stringify(t.dir)} }`,
        "mqtt: { port: 0 }",
        "admin: { port: 0 }",
        "log: { level: silent }",
      ].join("\n"),
    );
    const cfg = ["--config", configFile];
    const results = await Promise.all([
      cli(["keys", "show", ...cfg]),
      cli(["proof", ids[0]!, ...cfg]),
      cli(["proof", ids[0]!, "--at", String(oldSize), ...cfg]),
      cli(["proof", ids.at(-1)!, ...cfg]),
      cli(["proof", "--consistency", String(oldSize), String(newSize), ...cfg]),
    ]);
    for (const r of results) assert.equal(r.code, 0, r.stdout + r.stderr);
    const [keys, a, b, c, d] = results.map((r) => r.stdout) as [string, string, string, string, string];
    vkey = keys.trim();
    early = JSON.parse(a) as ProofBundle;
    earlyAtOld = JSON.parse(b) as ProofBundle;
    last = JSON.parse(c) as ProofBundle;
    const cb = JSON.parse(d) as ConsistencyBundle;
    consistency = { old: cb.old, new: cb.new, proof: cb.proof };
    skey = readFileSync(join(t.dir, "keys", "signing.key"), "utf8").trim();
  }

  before(async () => {
    // both run to the end (no half-started gateway left behind), then the first failure is reported
    const done = await Promise.allSettled([buildGo(), fillGateway()]);
    setupError = done.find((d) => d.status === "rejected")?.reason;
  });
  // every test FAILS (not cancelled, never skipped) with the setup error, e.g. Go missing
  beforeEach(() => {
    if (setupError !== undefined) throw setupError;
  });

  /** The Go input for a bundle, exactly as produced (entry recomputed from the bundle's opening). */
  function inputFor(bundle: ProofBundle, extra: Partial<GoInput> = {}): GoInput {
    const entry = commitEntry(
      base64Decode(bundle.opening.salt),
      new TextEncoder().encode(bundle.opening.record),
    );
    return {
      vkey,
      origin: bundle.log.origin,
      proof: bundle.tlog_proof,
      entry: base64Encode(entry),
      leafHash: base64Encode(leafHash(entry)),
      ...extra,
    };
  }

  const accepted = (r: GoResult) => assert.equal(r.code, 0, `Go rejected:\n${r.stdout}${r.stderr}`);

  /** Go must exit 1 and name `step` as the failing one. */
  function rejectedAt(r: GoResult, step: string): void {
    assert.equal(r.code, 1, `Go must reject (exit 1):\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^FAIL ${step}: `), r.stderr);
    assert.doesNotMatch(r.stdout, /^OK all$/m);
  }

  it("accepts vkey, signed checkpoint, tlog-proof and consistency proof end to end", async () => {
    const r = await goVerify(inputFor(early, { skey, consistency }));
    accepted(r);
    for (const step of [
      "vkey",
      "proof-parse",
      "skey",
      "note",
      "checkpoint",
      "origin",
      "leaf-hash",
      "inclusion",
      "consistency",
      "all",
    ]) {
      assert.match(r.stdout, new RegExp(`^OK ${step}\\b`, "m"), `missing OK ${step}:\n${r.stdout}`);
    }
    // Go's key ID computation agrees with the vkey's, and the checkpoint is for the size we proved against
    assert.match(
      r.stdout,
      new RegExp(`^OK vkey name=test\\.vitalog\\.invalid/gw/test-gw keyid=${vkey.split("+")[1]}$`, "m"),
    );
    assert.match(
      r.stdout,
      /^OK skey note.NewSigner \+ note.Sign reproduce the checkpoint note byte for byte$/m,
    );
  });

  it("accepts proofs for the rightmost leaf and against an older checkpoint (--at)", async () => {
    accepted(await goVerify(inputFor(last, { skey })));
    const r = await goVerify(inputFor(earlyAtOld, { skey }));
    accepted(r);
    assert.match(r.stdout, new RegExp(`^OK checkpoint .* size=${consistency.old.split("\n")[1]} `, "m"));
  });

  it("our leaf hash SHA-256(0x00 || entry) is tlog.RecordHash(entry)", async () => {
    const good = await goVerify(inputFor(early));
    assert.match(good.stdout, /^OK leaf-hash tlog\.RecordHash\(entry\) = producer's leaf hash /m);
    // a plain SHA-256(entry) (no RFC 6962 0x00 leaf prefix) is not what Go hashes: Go says so
    const input = inputFor(early);
    const plain = createHash("sha256").update(base64Decode(input.entry)).digest("base64");
    rejectedAt(await goVerify({ ...input, leafHash: plain }), "leaf-hash");
  });

  it("rejects a flipped bit in the checkpoint signature (note.Open)", async () => {
    const { head, note } = splitProof(early.tlog_proof);
    const parsed = parseNote(note);
    const sigLine = note.slice(parsed.text.length + 1).split("\n")[0]!;
    const [dash, name, b64] = sigLine.split(" ") as [string, string, string];
    const bad = note.replace(sigLine, `${dash} ${name} ${flipB64(b64, 4 + 10, 3)}`);
    assert.notEqual(bad, note);
    const r = await goVerify(inputFor(early, { proof: joinProof(head, bad) }));
    rejectedAt(r, "note");
    assert.match(r.stderr, /invalid signature/i);
  });

  it("rejects a flipped bit in the root: by signature (note.Open), and if re-signed by the inclusion proof", async () => {
    const { head, note } = splitProof(early.tlog_proof);
    const { text } = parseNote(note);
    const lines = text.split("\n");
    lines[2] = flipB64(lines[2]!, 31, 0);
    const badText = lines.join("\n");
    // same signature lines, changed text
    const unsigned = badText + note.slice(text.length);
    rejectedAt(await goVerify(inputFor(early, { proof: joinProof(head, unsigned) })), "note");
    // validly signed by the log key over the wrong root: only the Merkle check can catch it
    const resigned = signNote(badText, [parseSkey(skey)]);
    rejectedAt(await goVerify(inputFor(early, { proof: joinProof(head, resigned) })), "inclusion");
  });

  it("rejects a flipped bit in an inclusion proof hash (tlog.CheckRecord)", async () => {
    const { head, note } = splitProof(early.tlog_proof);
    assert.ok(head.length >= 3, "the proof has at least one hash");
    for (const i of [2, head.length - 1]) {
      const bad = [...head];
      bad[i] = flipB64(bad[i]!, 7, 5);
      rejectedAt(await goVerify(inputFor(early, { proof: joinProof(bad, note) })), "inclusion");
    }
  });

  it("rejects a wrong index (tlog.CheckRecord) and an index beyond the checkpoint", async () => {
    const { head, note } = splitProof(early.tlog_proof);
    const index = Number(head[1]!.slice("index ".length));
    const size = Number(parseNote(note).text.split("\n")[1]);
    for (const wrong of [index + 1, size - 1].filter((w) => w !== index)) {
      const bad = [...head];
      bad[1] = `index ${wrong}`;
      rejectedAt(await goVerify(inputFor(early, { proof: joinProof(bad, note) })), "inclusion");
    }
    const beyond = [...head];
    beyond[1] = `index ${size}`;
    rejectedAt(await goVerify(inputFor(early, { proof: joinProof(beyond, note) })), "index");
  });

  it("rejects another reading's entry and a flipped bit in the entry", async () => {
    const own = inputFor(early);
    const other = inputFor(last);
    rejectedAt(await goVerify({ ...own, entry: other.entry, leafHash: other.leafHash! }), "inclusion");
    const { leafHash: _, ...noLeaf } = own;
    rejectedAt(await goVerify({ ...noLeaf, entry: flipB64(own.entry, 0, 0) }), "inclusion");
  });

  it("rejects a checkpoint signed by another key (note.Open: unverified note)", async () => {
    const stranger = Ed25519Signer.generate("test.vitalog.invalid/gw/test-gw");
    const r = await goVerify(inputFor(early, { vkey: stranger.verifier().toVkey() }));
    rejectedAt(r, "note");
    assert.match(r.stderr, /no verifiable signatures/);
  });

  it("rejects a flipped bit in a consistency proof hash and swapped checkpoints (tlog.CheckTree)", async () => {
    assert.ok(consistency.proof.length > 0);
    for (const i of [0, consistency.proof.length - 1]) {
      const proof = [...consistency.proof];
      proof[i] = flipB64(proof[i]!, 0, 1);
      rejectedAt(await goVerify(inputFor(early, { consistency: { ...consistency, proof } })), "consistency");
    }
    const swapped = { old: consistency.new, new: consistency.old, proof: consistency.proof };
    rejectedAt(await goVerify(inputFor(early, { consistency: swapped })), "consistency");
  });
});
