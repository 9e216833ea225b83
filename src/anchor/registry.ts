/**
 * The AnchorRegistry contract as TypeScript sees it: a typed ABI (checked against the committed
 * artifact by test/anchor/registry-artifact.test.ts), the compiled bytecode, and a deploy helper.
 */
import { createPublicClient, createWalletClient, type Hex, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import artifact from "./artifacts/AnchorRegistry.json" with { type: "json" };

/** ABI of src/anchor/contracts/AnchorRegistry.sol; MUST equal the artifact's ABI. */
export const REGISTRY_ABI = [
  {
    type: "error",
    name: "TreeSizeNotGrowing",
    inputs: [
      { internalType: "uint64", name: "latest", type: "uint64" },
      { internalType: "uint64", name: "offered", type: "uint64" },
    ],
  },
  {
    type: "event",
    name: "Anchored",
    anonymous: false,
    inputs: [
      { indexed: true, internalType: "bytes32", name: "logId", type: "bytes32" },
      { indexed: false, internalType: "uint64", name: "treeSize", type: "uint64" },
      { indexed: false, internalType: "bytes32", name: "rootHash", type: "bytes32" },
      { indexed: false, internalType: "bytes32", name: "checkpointHash", type: "bytes32" },
    ],
  },
  {
    type: "function",
    name: "anchor",
    stateMutability: "nonpayable",
    inputs: [
      { internalType: "bytes32", name: "logId", type: "bytes32" },
      { internalType: "uint64", name: "treeSize", type: "uint64" },
      { internalType: "bytes32", name: "rootHash", type: "bytes32" },
      { internalType: "bytes32", name: "checkpointHash", type: "bytes32" },
    ],
    outputs: [],
  },
  {
    type: "function",
    name: "latest",
    stateMutability: "view",
    inputs: [
      { internalType: "address", name: "writer", type: "address" },
      { internalType: "bytes32", name: "logId", type: "bytes32" },
    ],
    outputs: [
      { internalType: "uint64", name: "treeSize", type: "uint64" },
      { internalType: "bytes24", name: "checkpointHashPrefix", type: "bytes24" },
    ],
  },
] as const;

/** The committed compiler output (abi, bytecode, compiler version and settings). */
export const REGISTRY_ARTIFACT = artifact as {
  contractName: string;
  compiler: { name: string; version: string; settings: unknown };
  abi: unknown[];
  bytecode: Hex;
  deployedBytecode: Hex;
};

/** Deploys a fresh registry with `privateKey` and resolves with its address once mined. */
export async function deployRegistry(
  rpcUrl: string,
  privateKey: Hex,
): Promise<{ address: Hex; block: bigint }> {
  const account = privateKeyToAccount(privateKey);
  const transport = http(rpcUrl, { retryCount: 0 });
  const chainId = await createPublicClient({ transport }).getChainId();
  const chain = {
    id: chainId,
    name: `evm-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  } as const;
  const wallet = createWalletClient({ account, chain, transport });
  const pub = createPublicClient({ chain, transport });
  const hash = await wallet.deployContract({ abi: REGISTRY_ABI, bytecode: REGISTRY_ARTIFACT.bytecode });
  const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (receipt.contractAddress == null || receipt.status !== "success")
    throw new Error("registry deployment failed");
  return { address: receipt.contractAddress, block: receipt.blockNumber };
}
