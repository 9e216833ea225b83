/**
 * End to end: serialport inside a real gateway over real kernel pty pairs (socat), with the serial device
 * simulator on the other end. Readings arrive in both definitions (binary framed with ack after commit, and
 * line-oriented ASCII with a field mapping); garbage is resynchronised; a bad checksum is rejected and counted;
 * the port is reopened after an unplug.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { PtyPair } from "../../../firmware-sim/pty-pair.js";
import { corruptChecksum, GARBAGE, SerialDevice, serialFrame } from "../../../firmware-sim/serial-device.js";
import { encodeAsciiBedside } from "../../../src/drivers/serial/ascii-bedside.js";
import type { Reading } from "../../../src/reading.js";
import { startTestGateway, type TestGateway, tempDir, waitFor, writeSecret } from "../../helpers/gateway.js";
import { NORMAL_SAMPLE } from "../../helpers/vitals.js";

const sample = NORMAL_SAMPLE;

describe("serial driver end to end (serialport ↔ socat pty pair ↔ device simulator)", () => {
  const dir = tempDir("vitalog-serial-");
  let bin: PtyPair;
  let ascii: PtyPair;
  let binDev: SerialDevice;
  let asciiDev: SerialDevice;
  let t: TestGateway;
  const readings: Reading[] = [];
  const of = (id: string) => readings.filter((r) => r.deviceId === id);
  const portStatus = (id: string) =>
    (
      t.gw.status().serial as {
        ports: Array<{ deviceId: string; state: string; reopens: number; rejected: number }>;
      }
    ).ports.find((p) => p.deviceId === id)!;
  const rejections = (id: string, reason: string) =>
    t.gw.store
      .rejectionCounts(id)
      .filter((r) => r.reason === reason)
      .reduce((n, r) => n + r.count, 0);

  before(async () => {
    bin = await PtyPair.open(dir, "bin");
    ascii = await PtyPair.open(dir, "ascii");
    const pw = writeSecret(dir, "pw", "unused-for-serial");
    t = await startTestGateway({
      devices: [
        { id: "bed-1", subject: "pt-1", passwordFile: pw },
        { id: "bed-2", subject: "pt-2", passwordFile: pw },
      ],
      serial: {
        reopen: { initialDelayMs: 50, maxDelayMs: 200, multiplier: 2, jitter: 0 },
        ports: [
          { path: bin.gatewayPath, deviceId: "bed-1", definition: "binary-bedside" },
          {
            path: ascii.gatewayPath,
            deviceId: "bed-2",
            definition: "ascii-bedside",
            fields: {
              PULSE: { kind: "pulse_rate", unit: "/min" },
              TEMP: { kind: "body_temperature", unit: "[degF]" },
            },
          },
        ],
      },
    });
    t.gw.ingest.addListener({ onReading: (r) => readings.push(r) });
    binDev = await SerialDevice.open(bin.devicePath);
    asciiDev = await SerialDevice.open(ascii.devicePath);
    await waitFor(
      () => portStatus("bed-1").state === "connected" && portStatus("bed-2").state === "connected",
    );
  });

  after(async () => {
    await binDev?.close();
    await asciiDev?.close();
    await t?.close();
    await bin?.unplug();
    await ascii?.unplug();
    rmSync(dir, { recursive: true, force: true });
  });

  it("delivers readings of the binary format and acknowledges each frame after commit", async () => {
    await binDev.write(serialFrame("binary", sample, 7));
    await waitFor(() => of("bed-1").length === 6, 5000, "six readings");
    assert.deepEqual(
      of("bed-1").map((r) => [r.kind, r.value]),
      [
        ["heart_rate", 72],
        ["spo2", 97],
        ["respiratory_rate", 14],
        ["body_temperature", 36.8],
        ["bp_systolic", 122],
        ["bp_diastolic", 78],
      ],
    );
    await waitFor(() => binDev.acks.includes(7), 5000, "ack of seq 7");
    assert.equal(t.gw.store.count("bed-1"), 6, "acknowledged only once committed");
  });

  it("maps the ASCII format's fields through the configured mapping", async () => {
    await asciiDev.write(
      Uint8Array.of(...encodeAsciiBedside({ PULSE: 64, SPO2: 95, TEMP: 98.6, XYZ: 1 }), 0x0d, 0x0a),
    );
    await waitFor(() => of("bed-2").length === 3, 5000, "three readings");
    const got = Object.fromEntries(of("bed-2").map((r) => [r.kind, [r.value, r.unit]]));
    assert.deepEqual(got.pulse_rate, [64, "/min"]);
    assert.deepEqual(got.spo2, [95, "%"]);
    assert.equal(got.body_temperature?.[1], "Cel");
    assert.equal(got.body_temperature?.[0], 37);
  });

  it("resynchronises after garbage, in both formats, and counts what it dropped", async () => {
    const n1 = of("bed-1").length;
    await binDev.write(Uint8Array.of(...GARBAGE, ...serialFrame("binary", { ...sample, heartRate: 101 }, 8)));
    await waitFor(() => of("bed-1").length === n1 + 6, 5000, "binary frame after garbage");
    assert.equal(of("bed-1")[n1]!.value, 101);
    // the false start octet (A5 30: "48 octets follow") is given up when the line goes quiet, the next one
    // (A5 02) fails its checksum, and the scan resumes on the real frame
    await waitFor(
      () => rejections("bed-1", "frame_incomplete") === 1 && rejections("bed-1", "checksum_mismatch") === 1,
      5000,
      "dropped octets counted",
    );
    const n2 = of("bed-2").length;
    await asciiDev.write(Uint8Array.of(...GARBAGE, ...serialFrame("ascii", { ...sample, spo2: 93 }, 1)));
    await waitFor(() => of("bed-2").length > n2, 5000, "ascii line after garbage");
    assert.ok(of("bed-2").some((r) => r.kind === "spo2" && r.value === 93));
    await waitFor(() => rejections("bed-2", "frame_unrecognised") === 1, 5000, "garbage line counted");
  });

  it("rejects and counts a frame with a bad checksum, never acknowledges it, and keeps the port up", async () => {
    const before = rejections("bed-1", "checksum_mismatch");
    const n = of("bed-1").length;
    await binDev.write(corruptChecksum("binary", serialFrame("binary", { ...sample, heartRate: 111 }, 9)));
    await binDev.write(serialFrame("binary", { ...sample, heartRate: 66 }, 10));
    await waitFor(() => binDev.acks.includes(10), 5000, "ack of the good frame");
    assert.equal(rejections("bed-1", "checksum_mismatch"), before + 1);
    assert.equal(
      t.gw.metrics.value("vitalog_rejections_total", { device: "bed-1", reason: "checksum_mismatch" }),
      before + 1,
    );
    assert.ok(!binDev.acks.includes(9), "bad frame not acknowledged");
    assert.equal(of("bed-1").length, n + 6);
    assert.ok(!of("bed-1").some((r) => r.value === 111));
    const a = rejections("bed-2", "checksum_mismatch");
    await asciiDev.write(corruptChecksum("ascii", serialFrame("ascii", sample, 2)));
    await waitFor(() => rejections("bed-2", "checksum_mismatch") === a + 1, 5000, "ascii checksum rejection");
    assert.equal(portStatus("bed-1").state, "connected");
  });

  it("reopens the port after it is unplugged and plugged back in", async () => {
    await binDev.close();
    await bin.unplug();
    await waitFor(() => portStatus("bed-1").state !== "connected", 5000, "unplug noticed");
    await bin.replug();
    binDev = await SerialDevice.open(bin.devicePath);
    await waitFor(() => portStatus("bed-1").state === "connected", 10_000, "port reopened");
    const n = of("bed-1").length;
    await binDev.write(serialFrame("binary", { ...sample, heartRate: 90 }, 11));
    await waitFor(() => of("bed-1").length === n + 6, 5000, "reading after replug");
    assert.equal(of("bed-1")[n]!.value, 90);
    assert.ok(portStatus("bed-1").reopens >= 1);
  });
});
