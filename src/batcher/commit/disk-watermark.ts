/**
 * The storage watermark: free space on the database's file system, read with statfs every few seconds.
 * Below `minFreeBytes` the gateway stops acknowledging new readings (the devices keep them) while rules
 * and alert delivery go on from memory; once free space is back above `minFreeBytes + resumeMarginBytes`
 * it acknowledges again by itself. The margin keeps a file system hovering at the mark from flapping.
 *
 * The headroom below the mark is what the alert tables, the log's checkpoints and rejections need to
 * keep committing while readings are refused: SQLite fails a commit with SQLITE_FULL when it cannot
 * grow the file, which would fail alert events too.
 */
import { statfs } from "node:fs/promises";
import type { Clock } from "../../clock.js";
import type { Logger } from "../../log.js";

export interface DiskWatermarkOptions {
  /** A directory on the file system to watch (the database's). */
  dir: string;
  minFreeBytes: number;
  resumeMarginBytes: number;
  checkIntervalMs: number;
  clock: Clock;
  log: Logger;
  /** Reads free bytes (tests may inject); default statfs `bavail * bsize` (space for unprivileged writers). */
  readFreeBytes?: (dir: string) => Promise<number>;
}

export class DiskWatermark {
  readonly #opts: DiskWatermarkOptions;
  readonly #listeners: ((isLow: boolean) => void)[] = [];
  #isLow = false;
  #freeBytes: number | null = null;
  #lastError: string | undefined;
  #timer: unknown = null;
  #stopped = true;

  constructor(opts: DiskWatermarkOptions) {
    this.#opts = opts;
  }

  /** True while free space is under the watermark (readings are not acknowledged). */
  get isLow(): boolean {
    return this.#isLow;
  }

  /** Free bytes at the last reading (null before the first one). */
  get freeBytes(): number | null {
    return this.#freeBytes;
  }

  /** Called with the new state whenever it changes. */
  onChange(listener: (isLow: boolean) => void): void {
    this.#listeners.push(listener);
  }

  /** A problem text for health and the technical alarm, or undefined. */
  problem(): string | undefined {
    if (this.#isLow) {
      return `free space ${mib(this.#freeBytes ?? 0)} MiB is under the ${mib(this.#opts.minFreeBytes)} MiB watermark: readings are not acknowledged`;
    }
    if (this.#lastError !== undefined) return `free space cannot be read: ${this.#lastError}`;
    return undefined;
  }

  /** Reads free space once, then every `checkIntervalMs`. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.check();
    this.#arm();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Reads free space now and updates the state. */
  async check(): Promise<void> {
    const read = this.#opts.readFreeBytes ?? defaultFreeBytes;
    let free: number;
    try {
      free = await read(this.#opts.dir);
      this.#lastError = undefined;
    } catch (err) {
      // unknown free space is not "full": keep acknowledging, report it through health
      this.#lastError = (err as Error).message;
      return;
    }
    this.#freeBytes = free;
    const { minFreeBytes, resumeMarginBytes } = this.#opts;
    const isLow = this.#isLow ? free < minFreeBytes + resumeMarginBytes : free < minFreeBytes;
    if (isLow === this.#isLow) return;
    this.#isLow = isLow;
    if (isLow) this.#opts.log.error({ freeBytes: free, minFreeBytes }, "storage under watermark");
    else this.#opts.log.info({ freeBytes: free }, "storage above watermark again");
    for (const l of this.#listeners) {
      try {
        l(isLow);
      } catch (err) {
        this.#opts.log.error({ err }, "storage watermark listener failed");
      }
    }
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#opts.clock.setTimeout(() => {
      this.#timer = null;
      void this.check().finally(() => this.#arm());
    }, this.#opts.checkIntervalMs);
  }
}

async function defaultFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
