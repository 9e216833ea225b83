/**
 * A private D-Bus "system" bus for the simulated BlueZ: `dbus-daemon --nofork` as a child process with an
 * allow-all policy in a temp dir (DESIGN.md "How real components run in tests"). Fails with a clear message
 * when dbus-daemon (Debian package `dbus`) is missing.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PrivateBus {
  /** The bus address, for DBUS_SYSTEM_BUS_ADDRESS (node-ble) and dbus-next `busAddress`. */
  address: string;
  pid: number;
  stop(): Promise<void>;
}

/** Whether dbus-daemon is on the PATH. */
export function hasDbusDaemon(): boolean {
  return spawnSync("dbus-daemon", ["--version"], { stdio: "ignore" }).status === 0;
}

const policy = (
  dir: string,
) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${dir}/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/><allow send_type="method_return"/>
    <allow send_type="signal"/><allow send_type="error"/>
    <allow receive_type="method_call"/><allow receive_type="method_return"/>
    <allow receive_type="signal"/><allow receive_type="error"/>
  </policy>
</busconfig>
`;

export async function startPrivateBus(): Promise<PrivateBus> {
  if (!hasDbusDaemon())
    throw new Error("dbus-daemon not found: install the Debian package `dbus` (scripts/test.sh does)");
  const dir = mkdtempSync(join(tmpdir(), "vitalog-dbus-"));
  const conf = join(dir, "system-bus.conf");
  writeFileSync(conf, policy(dir));
  const child: ChildProcess = spawn(
    "dbus-daemon",
    [`--config-file=${conf}`, "--nofork", "--print-address=1"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const address = await new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`dbus-daemon gave no address: ${err}`)), 5000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl).trim());
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`dbus-daemon exited with ${code}: ${err}`));
    });
  });
  return {
    address,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
