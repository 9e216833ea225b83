/**
 * The Driver conformance suite on the serial driver: serialport over real kernel pty pairs (socat), with the
 * serial device simulator on the other end speaking the binary bedside format (acknowledged after commit).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { PtyPair } from "../../../firmware-sim/pty-pair.js";
import { SerialDevice, serialFrame } from "../../../firmware-sim/serial-device.js";
import { registerDriverConformanceTests } from "../../../src/drivers/driver-conformance.js";
import { binaryBedside } from "../../../src/drivers/serial/binary-bedside.js";
import { SerialDriver } from "../../../src/drivers/serial/serial-driver.js";
import { NORMAL_SAMPLE } from "../../helpers/vitals.js";

const dir = mkdtempSync(join(tmpdir(), "vitalog-serial-conformance-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const AUTHORISED = join(dir, "auth-gateway");
const REFUSED = join(dir, "refused-gateway");
const backoff = { initialDelayMs: 50, maxDelayMs: 200, multiplier: 2, jitter: 0 };

registerDriverConformanceTests({
  name: "serial driver (socat pty, binary bedside)",
  definitions: [binaryBedside],
  deviceKey: AUTHORISED,
  refusedDeviceKey: REFUSED,
  backoff,
  reportsRefusals: true,
  hasDeviceAcks: true,
  async setUp(ctx) {
    const pair = await PtyPair.open(dir, "auth");
    const refusedPair = await PtyPair.open(dir, "refused");
    let device = await SerialDevice.open(pair.devicePath);
    let refusedDevice: SerialDevice | undefined;
    let seq = 0;
    const driver = new SerialDriver(ctx, {
      ports: [
        { path: pair.gatewayPath, definition: binaryBedside },
        { path: refusedPair.gatewayPath, definition: binaryBedside },
      ],
      reopen: backoff,
    });
    return {
      driver,
      sendFrame: () => device.write(serialFrame("binary", NORMAL_SAMPLE, ++seq % 256)),
      async sendRefusedFrame() {
        refusedDevice ??= await SerialDevice.open(refusedPair.devicePath);
        await refusedDevice.write(serialFrame("binary", NORMAL_SAMPLE, 1));
      },
      acks: () => device.acks.length,
      async dropLink() {
        await device.close();
        await pair.unplug();
      },
      async restoreLink() {
        await pair.replug();
        device = await SerialDevice.open(pair.devicePath);
      },
      async close() {
        await device.close();
        await refusedDevice?.close();
        await pair.unplug();
        await refusedPair.unplug();
      },
    };
  },
});
