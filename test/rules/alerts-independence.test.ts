/**
 * Alerts do not wait for the disk or the log [DESIGN.md]: with the store closed, locked by another
 * connection, or every group commit failing (the tamper-evident log's writer throwing), a device's alarm
 * still reaches the nurse station over MQTT.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { ANVIL_KEYS, writeKeyFile } from "../../src/anchor/anvil.js";
import { tempDir, waitFor } from "../helpers/gateway.js";
import { type AlertTestGateway, startAlertGateway } from "./alert-helpers.js";

/** A commit writer whose every write throws (test/helpers/failing-commit-writer.ts). */
const failingWriter = {
  name: "failing",
  module: new URL("../helpers/failing-commit-writer.js", import.meta.url).href,
};

async function raiseWith(
  t: AlertTestGateway,
  breakStore: () => (() => void) | undefined,
  storeFails = true,
): Promise<void> {
  const station = await t.station();
  const dev = await t.device("cuff-x");
  const thermo = await t.device("thermo-x");
  const failedBefore = t.gw.metrics.value("vitalog_commits_total", { outcome: "failed" });
  const restore = breakStore();
  try {
    // QoS 0: a failed commit would (correctly) not be PUBACKed
    await dev.send("bp_systolic", 62, "mm[Hg]", 0);
    const raise = await station.next((m) => m.transition === "raise" && m.device_id === "cuff-x");
    assert.equal(raise.priority, "high");
    // the rules keep running for what follows (another device: the first was disconnected without a
    // PUBACK because its reading could not be stored, and would resend after reconnecting)
    await thermo.send("body_temperature", 34, "Cel", 0);
    const cold = await station.next((m) => m.rule_id === "threshold.body_temperature.low", "second alert");
    assert.equal(cold.transition, "raise");
    if (storeFails) {
      // alerts do not wait for the commit, so the commit's failure may be reported after the alert
      await waitFor(
        () => t.gw.metrics.value("vitalog_commits_total", { outcome: "failed" }) > failedBefore,
        5000,
        "the store to fail",
      );
      assert.ok(t.gw.metrics.sum("vitalog_alert_persist_failures_total") > 0);
    } else {
      // a lock held by another process: the batch waits (retried), nothing fails, nothing is stored yet
      assert.equal(t.gw.metrics.value("vitalog_commits_total", { outcome: "failed" }), failedBefore);
      assert.equal(t.gw.store.count("cuff-x"), 0, "not stored while the lock is held");
    }
  } finally {
    if (typeof restore === "function") restore();
  }
}

describe("alert delivery independent of storage and log", () => {
  it("delivers on MQTT with the database gone (main connection closed, every commit failing)", async () => {
    const t = await startAlertGateway();
    try {
      await raiseWith(t, () => {
        t.gw.db.close();
        t.gw.addCommitWriter(failingWriter);
        return undefined;
      });
    } finally {
      await t.close();
    }
  });

  it("delivers on MQTT while another connection holds an exclusive lock on the database", async () => {
    // the batch is kept while the lock lasts: a give-up far beyond how long this test holds the lock, set
    // here rather than left to the default
    const t = await startAlertGateway({}, { busyGiveUpMs: 60_000 });
    const other = new Database(t.gw.config.storage.path!);
    try {
      // the gateway waits at most 25 ms for a lock and then retries the batch off the event loop's back
      await raiseWith(
        t,
        () => {
          other.exec("BEGIN EXCLUSIVE");
          return () => other.exec("ROLLBACK");
        },
        false,
      );
      const deadline = Date.now() + 3000;
      while (t.gw.store.count("cuff-x") === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(t.gw.store.count("cuff-x"), 1, "stored once the lock is released: nothing lost");
    } finally {
      other.close();
      await t.close();
    }
  });

  it("delivers on MQTT when every group commit fails (the tamper-evident log's writer throwing)", async () => {
    const t = await startAlertGateway();
    try {
      await raiseWith(t, () => {
        t.gw.addCommitWriter(failingWriter);
        return undefined;
      });
    } finally {
      await t.close();
    }
  });

  it("delivers on MQTT with anchoring on and the ledger unreachable", async () => {
    // a ledger that is down: its port stays held by this test (a released one could be taken by another
    // test's server) and every connection is dropped unanswered
    const ledger = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((r) => ledger.listen(0, "127.0.0.1", () => r()));
    const port = (ledger.address() as AddressInfo).port;
    const keyDir = tempDir("vitalog-ledger-key-");
    const t = await startAlertGateway({
      tlog: { checkpointIntervalSec: 0.2 },
      anchor: {
        enabled: true,
        rpcUrl: `http://127.0.0.1:${port}`,
        chainId: 31337,
        contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        keyFile: writeKeyFile(keyDir, ANVIL_KEYS[1]!),
        anchorIntervalSec: 1,
        outageRetrySec: 1,
      },
    });
    try {
      const station = await t.station();
      const dev = await t.device("cuff-l");
      await dev.send("bp_systolic", 62, "mm[Hg]");
      const raise = await station.next((m) => m.transition === "raise" && m.device_id === "cuff-l");
      assert.equal(raise.priority, "high");
      assert.equal(t.gw.store.count("cuff-l"), 1, "the reading is stored (PUBACKed) without the ledger");
      const anchor = t.gw.status().anchor as { connected: boolean };
      assert.equal(anchor.connected, false, "the ledger really was down");
    } finally {
      await t.close();
      await new Promise((r) => ledger.close(r));
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});
