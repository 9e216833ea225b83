/**
 * Spawns a real anvil (from the npm package @foundry-rs/anvil) on 127.0.0.1 with a free port, for
 * tests and `vitalog demo`, deploys the AnchorRegistry, and stops it again.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Hex } from "viem";
import { deployRegistry } from "./registry.js";

/** anvil's well-known dev keys (mnemonic "test test … junk"): test-only, never for a real ledger. */
export const ANVIL_KEYS: readonly Hex[] = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

export interface AnvilOptions {
  chainId?: number;
  /** `finalized` = latest − 2 × slotsInAnEpoch on anvil. Default 1 (finalized = latest − 2). */
  slotsInAnEpoch?: number;
  /** Interval mining in seconds; default automine. */
  blockTimeSec?: number;
  /** Start with mining disabled (mine with `evm_mine`). */
  isNoMining?: boolean;
  /** Deploy the registry with ANVIL_KEYS[0]. Default true. */
  isRegistryDeployed?: boolean;
  /** Reuse a port (restart after an outage). Default: a free one chosen by the OS. */
  port?: number;
  /**
   * With `port`: how long to keep trying while another process holds it (it may have been taken during the
   * outage), before failing with a message that says so. Default 10 000 ms.
   */
  portWaitMs?: number;
  /** Load chain state from this file at start and dump it there on stop (outage tests). */
  statePath?: string;
  /** Start timeout. Default 15 000 ms. */
  startTimeoutMs?: number;
}

export interface AnvilNode {
  readonly rpcUrl: string;
  readonly port: number;
  readonly chainId: number;
  /** Registry address (undefined when not deployed). */
  readonly registry: Hex | undefined;
  readonly registryBlock: bigint;
  /** Raw JSON-RPC call (anvil_*, evm_* cheat codes included). */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

/** Absolute path of the anvil binary from the platform package of @foundry-rs/anvil. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const platform = process.platform;
  const pkg = require.resolve(`@foundry-rs/anvil-${platform}-${arch}/package.json`);
  return join(pkg, "..", "bin", platform === "win32" ? "anvil.exe" : "anvil");
}

function waitForPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`anvil did not start: ${out.slice(-500)}`)), timeoutMs);
    // anvil reports a failed bind on stderr ("Address already in use"): kept for the error, and passed on
    child.stderr?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      process.stderr.write(chunk);
    });
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`anvil exited with ${code}: ${out.slice(-500)}`));
    });
  });
}

/** Spawns anvil and resolves once it listens; the child is killed when it does not. */
async function launch(
  args: readonly string[],
  timeoutMs: number,
): Promise<{ child: ChildProcess; port: number; killOnExit: () => void }> {
  const child = spawn(anvilBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
  // never leave an orphaned node behind when the parent exits without stop() (a crash, process.exit)
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const port = await waitForPort(child, timeoutMs).catch((err: unknown) => {
    process.off("exit", killOnExit);
    child.kill("SIGKILL");
    throw err;
  });
  return { child, port, killOnExit };
}

/**
 * Launches anvil on `port`, again every 200 ms while another process holds the port, for at most
 * `waitMs`: a node restarted after an outage must come back where its clients were told it is.
 */
async function launchOnPort(
  args: readonly string[],
  port: number,
  timeoutMs: number,
  waitMs: number,
): Promise<{ child: ChildProcess; port: number; killOnExit: () => void }> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await launch(args, timeoutMs);
    } catch (err) {
      if (!(err instanceof Error && /Address already in use/i.test(err.message))) throw err;
      if (Date.now() >= deadline)
        throw new Error(
          `anvil cannot listen on 127.0.0.1:${port} again: another process still held the port after ${waitMs} ms`,
          { cause: err },
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Starts anvil on 127.0.0.1 and (by default) deploys the registry. */
export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilNode> {
  const chainId = options.chainId ?? 31337;
  const args = ["--host", "127.0.0.1", "--port", String(options.port ?? 0), "--chain-id", String(chainId)];
  args.push("--slots-in-an-epoch", String(options.slotsInAnEpoch ?? 1));
  if (options.blockTimeSec !== undefined) args.push("--block-time", String(options.blockTimeSec));
  if (options.isNoMining) args.push("--no-mining");
  if (options.statePath !== undefined) args.push("--state", options.statePath);
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const { child, port, killOnExit } =
    options.port === undefined || options.port === 0
      ? await launch(args, timeoutMs)
      : await launchOnPort(args, options.port, timeoutMs, options.portWaitMs ?? 10_000);
  const rpcUrl = `http://127.0.0.1:${port}`;
  let id = 0;
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  };
  let registry: Hex | undefined;
  let registryBlock = 0n;
  if (options.isRegistryDeployed ?? true) {
    if (options.isNoMining) await rpc("evm_setAutomine", [true]);
    const d = await deployRegistry(rpcUrl, ANVIL_KEYS[0]!);
    if (options.isNoMining) await rpc("evm_setAutomine", [false]);
    registry = d.address;
    registryBlock = d.block;
  }
  const stop = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(t);
  };
  return { rpcUrl, port, chainId, registry, registryBlock, rpc, stop };
}

/** Writes a key file with mode 0600 (as the gateway expects) and returns its path. */
export function writeKeyFile(dir: string, key: Hex, name = "ledger.key"): string {
  const path = join(dir, name);
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
