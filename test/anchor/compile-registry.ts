/**
 * Compiles src/anchor/contracts/AnchorRegistry.sol with solc-js (devDependency) using the settings
 * recorded in the committed artifact. Run `node dist/test/anchor/compile-registry.js --write` to
 * regenerate src/anchor/artifacts/AnchorRegistry.json after editing the contract.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

/** Paths are resolved from dist/test/anchor/ back to the source tree. */
export const SOURCE_PATH = fileURLToPath(
  new URL("../../../src/anchor/contracts/AnchorRegistry.sol", import.meta.url),
);
export const ARTIFACT_PATH = fileURLToPath(
  new URL("../../../src/anchor/artifacts/AnchorRegistry.json", import.meta.url),
);

/** Compiler settings: paris keeps the bytecode free of PUSH0/MCOPY so pre-Shanghai Besu networks run it. */
export const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "paris",
  metadata: { bytecodeHash: "none" },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
} as const;

export interface RegistryArtifact {
  contractName: string;
  sourceName: string;
  compiler: { name: string; version: string; settings: typeof SETTINGS };
  abi: unknown[];
  bytecode: `0x${string}`;
  deployedBytecode: `0x${string}`;
}

/** Compiles the registry; throws on any compiler error. */
export function compileRegistry(): RegistryArtifact {
  const solc = require("solc") as { compile(input: string): string; version(): string };
  const input = {
    language: "Solidity",
    sources: { "AnchorRegistry.sol": { content: readFileSync(SOURCE_PATH, "utf8") } },
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: Record<string, { object: string }> }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  const c = output.contracts["AnchorRegistry.sol"]?.AnchorRegistry;
  if (c === undefined) throw new Error("AnchorRegistry missing from compiler output");
  return {
    contractName: "AnchorRegistry",
    sourceName: "src/anchor/contracts/AnchorRegistry.sol",
    compiler: { name: "solc-js", version: solc.version(), settings: SETTINGS },
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode!.object}`,
    deployedBytecode: `0x${c.evm.deployedBytecode!.object}`,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  writeFileSync(ARTIFACT_PATH, `${JSON.stringify(compileRegistry(), null, 2)}\n`);
  console.log(`wrote ${ARTIFACT_PATH}`);
}
