/**
 * Which refusals are kept as forensic samples: at most `perKey` per (device, reason), `perDevice` per
 * device (so one device refusing for many reasons cannot take the whole minute's quota from the others) and
 * `perMinute` in all, per wall-clock minute. Everything else is only counted, so a flood of refusals costs the database
 * a few hundred bytes a minute per device and reason whatever its rate. Decided in memory on the main
 * thread, before the commit: the quota state is one small map, cleared when the minute changes.
 */
export class RejectionSampler {
  readonly #perKey: number;
  readonly #perDevice: number;
  readonly #perMinute: number;
  #minute = Number.NaN;
  #taken = 0;
  /** Samples taken this minute per (device, reason); holds at most `perMinute` keys. */
  readonly #byKey = new Map<string, number>();
  /** Samples taken this minute per device. */
  readonly #byDevice = new Map<string, number>();

  constructor(
    quota: { perKey: number; perDevice: number; perMinute: number } = {
      perKey: 3,
      perDevice: 12,
      perMinute: 60,
    },
  ) {
    for (const [name, n] of Object.entries(quota)) {
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer`);
    }
    this.#perKey = quota.perKey;
    this.#perDevice = quota.perDevice;
    this.#perMinute = quota.perMinute;
  }

  /** True when this refusal is to be kept as a sample (and takes one from the minute's quotas). */
  take(deviceId: string | null, reason: string, nowMs: number): boolean {
    const minute = Math.floor(nowMs / 60_000);
    // any change of minute, a clock stepped back included, starts fresh quotas
    if (minute !== this.#minute) {
      this.#minute = minute;
      this.#taken = 0;
      this.#byKey.clear();
      this.#byDevice.clear();
    }
    if (this.#taken >= this.#perMinute) return false;
    const device = deviceId ?? "";
    const perDevice = this.#byDevice.get(device) ?? 0;
    if (perDevice >= this.#perDevice) return false;
    const key = `${device}\u0000${reason}`;
    const n = this.#byKey.get(key) ?? 0;
    if (n >= this.#perKey) return false;
    this.#byKey.set(key, n + 1);
    this.#byDevice.set(device, perDevice + 1);
    this.#taken += 1;
    return true;
  }
}
