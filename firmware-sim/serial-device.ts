#!/usr/bin/env node
/**
 * Serial bedside-monitor simulator: writes a patient scenario's vitals in the "ascii-bedside" or
 * "binary-bedside" format (src/drivers/serial/) to the device end of a pty pair, reads the gateway's
 * acknowledgements, and can inject garbage and frames with a bad checksum.
 *
 *   node dist/firmware-sim/serial-device.js --path /tmp/x/tty-device --format binary [--scenario stable]
 *        [--rate 1] [--garbage-every 10] [--bad-checksum-every 15]
 */
import { parseArgs } from "node:util";
import { SerialPort } from "serialport";
import { encodeAsciiBedside } from "../src/drivers/serial/ascii-bedside.js";
import { BINARY_ACK, encodeBinaryBedside } from "../src/drivers/serial/binary-bedside.js";
import { rng, type Scenario, sampleVitals, type VitalsSample } from "./scenarios.js";

export type SerialFormat = "ascii" | "binary";

/** The bytes on the wire for one sample, in `format` (ascii lines end with CR LF). */
export function serialFrame(format: SerialFormat, s: VitalsSample, seq: number): Uint8Array {
  if (format === "ascii") {
    const line = encodeAsciiBedside({
      HR: s.heartRate,
      SPO2: s.spo2,
      RR: s.respiratoryRate,
      TEMP: s.temperatureC,
      SYS: s.systolic,
      DIA: s.diastolic,
      BAT: s.batteryPct,
      PROBE: s.sensorContact ? 1 : 0,
    });
    return Uint8Array.of(...line, 0x0d, 0x0a);
  }
  return encodeBinaryBedside(
    seq,
    {
      heart_rate: s.heartRate,
      spo2: s.spo2,
      respiratory_rate: s.respiratoryRate,
      body_temperature: s.temperatureC,
      bp_systolic: s.systolic,
      bp_diastolic: s.diastolic,
      battery: s.batteryPct,
    },
    !s.sensorContact,
  );
}

/** Flips the checksum octet (binary) or one checksum digit (ascii) of a frame. */
export function corruptChecksum(format: SerialFormat, frame: Uint8Array): Uint8Array {
  const out = Uint8Array.from(frame);
  const i = format === "binary" ? out.length - 1 : out.length - 3;
  out[i] = format === "binary" ? out[i]! ^ 0xff : out[i] === 0x30 ? 0x31 : 0x30;
  return out;
}

/** Octets that are neither a frame nor a frame start, with a false binary start octet and a stray CR LF. */
export const GARBAGE = Uint8Array.of(0x00, 0xff, 0xa5, 0x30, 0x13, 0x37, 0x0d, 0x0a, 0x55, 0xa5, 0x02, 0x99);

/** A simulated device on `path` (the device end of a pty pair). */
export class SerialDevice {
  readonly acks: number[] = [];
  readonly #port: SerialPort;

  private constructor(port: SerialPort) {
    this.#port = port;
    port.on("data", (chunk: Buffer) => {
      for (let i = 0; i + 1 < chunk.length; i += 2)
        if (chunk[i] === BINARY_ACK) this.acks.push(chunk[i + 1]!);
    });
    port.on("error", () => {});
  }

  static async open(path: string, baudRate = 115200): Promise<SerialDevice> {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    return new SerialDevice(port);
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#port.write(Buffer.from(bytes), (err) => (err ? reject(err) : this.#port.drain(() => resolve())));
    });
  }

  async close(): Promise<void> {
    if (!this.#port.isOpen) return;
    await new Promise<void>((resolve) => this.#port.close(() => resolve()));
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      path: { type: "string" },
      format: { type: "string", default: "binary" },
      scenario: { type: "string", default: "stable" },
      rate: { type: "string", default: "1" },
      "garbage-every": { type: "string", default: "0" },
      "bad-checksum-every": { type: "string", default: "0" },
    },
  });
  if (!values.path || (values.format !== "ascii" && values.format !== "binary")) {
    process.stderr.write("--path PTY and --format ascii|binary are required\n");
    process.exit(64);
  }
  const format = values.format as SerialFormat;
  const device = await SerialDevice.open(values.path);
  const random = rng(4242);
  const startedAt = Date.now();
  const garbageEvery = Number(values["garbage-every"]);
  const badEvery = Number(values["bad-checksum-every"]);
  let seq = 0;
  const timer = setInterval(() => {
    const s = sampleVitals(values.scenario as Scenario, (Date.now() - startedAt) / 1000, random);
    if (!s) return;
    seq = (seq + 1) & 0xff;
    let frame = serialFrame(format, s, seq);
    if (badEvery > 0 && seq % badEvery === 0) frame = corruptChecksum(format, frame);
    const garbage = garbageEvery > 0 && seq % garbageEvery === 0;
    device.write(garbage ? Uint8Array.of(...GARBAGE, ...frame) : frame).catch(() => process.exit(0));
  }, 1000 / Number(values.rate));
  const finish = async () => {
    clearInterval(timer);
    await device.close();
    process.exit(0);
  };
  process.once("SIGINT", finish);
  process.once("SIGTERM", finish);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  cli().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
