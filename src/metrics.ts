import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Label set of a metric sample; values are wire strings. */
export type Labels = Readonly<Record<string, string>>;

/** One sample of a family: its labels and value. */
export interface Sample {
  labels: Labels;
  value: number;
}

interface Family {
  help: string;
  type: "counter" | "gauge";
  /** Samples set by the callers (empty for a family computed at scrape time). */
  samples: Map<string, Sample>;
  /** Computes the samples at scrape time (`gaugeFrom`). */
  collect?: () => Iterable<Sample>;
  /** The prom-client metric that exposes the family, (re)built by `exposition` when new label names appear. */
  exposed?: Counter | Gauge;
  labelNames: readonly string[];
}

/**
 * In-process metrics of one gateway, exposed in the Prometheus text format by prom-client from a registry
 * of their own (never prom-client's global one: two gateways in one process never mix their series), and
 * as a JSON snapshot. Names follow Prometheus conventions (`_total` for counters, units as suffixes) and
 * are wire strings: only ever added to.
 *
 * Counters and gauges keep their samples here, so the hot path is one map update and `value`/`sum` answer
 * synchronously; `exposition` copies them into prom-client metrics whose label names are the union of the
 * label keys seen so far. Histograms are prom-client's own (declared label names).
 */
export class Metrics {
  /** The prom-client registry of this instance (for metrics that only prom-client produces). */
  readonly registry = new Registry();
  readonly #families = new Map<string, Family>();
  readonly #collectErrors: (labels?: Labels, by?: number) => void;

  constructor(opts: { processMetrics?: boolean } = {}) {
    this.#collectErrors = this.counter(
      "vitalog_metric_collect_errors_total",
      "Metric families that could not be computed at a scrape (left out of it), per family",
    );
    // process CPU, memory, file descriptors, GC and event-loop lag (nodejs_eventloop_lag_*_seconds,
    // from perf_hooks.monitorEventLoopDelay): what a flood or a leak shows first
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * A counter family; the returned function adds `by` (default 1) to the sample of `labels`. Registering a
   * name again returns the same family (several sinks share one).
   */
  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const family = this.#family(name, help, "counter");
    return (labels = {}, by = 1) => {
      const key = labelKey(labels);
      const sample = family.samples.get(key);
      if (sample) sample.value += by;
      else family.samples.set(key, { labels, value: by });
    };
  }

  /** A gauge family; the returned function sets the sample of `labels`. */
  gauge(name: string, help: string): (value: number, labels?: Labels) => void {
    const family = this.#family(name, help, "gauge");
    return (value, labels = {}) => {
      family.samples.set(labelKey(labels), { labels, value });
    };
  }

  /**
   * A gauge family computed when it is read (scrape, `value`, `snapshot`): `collect` returns every sample
   * of the family, so series that are no longer returned disappear. `collect` MUST be synchronous and cheap;
   * when it throws, the family is left out of that scrape and `vitalog_metric_collect_errors_total` counts it.
   */
  gaugeFrom(name: string, help: string, collect: () => Iterable<Sample>): void {
    if (this.#families.has(name) || this.registry.getSingleMetric(name) !== undefined)
      throw new TypeError(`metric ${name} is already registered`);
    this.#families.set(name, { help, type: "gauge", samples: new Map(), collect, labelNames: [] });
  }

  /**
   * A histogram (prom-client's), e.g. of durations in seconds. `labelNames` declares every label key an
   * observation may carry; `buckets` are the upper bounds, ascending.
   */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): (value: number, labels?: Labels) => void {
    if (this.#families.has(name) || this.registry.getSingleMetric(name) !== undefined)
      throw new TypeError(`metric ${name} is already registered`);
    const h = new Histogram({
      name,
      help,
      buckets: [...buckets],
      labelNames: [...labelNames],
      registers: [this.registry],
    });
    return (value, labels = {}) => h.observe(labels, value);
  }

  /** Current value of one sample (0 when never touched). */
  value(name: string, labels: Labels = {}): number {
    const key = labelKey(labels);
    const f = this.#families.get(name);
    if (f?.collect === undefined) return f?.samples.get(key)?.value ?? 0;
    for (const s of this.#samples(name)) if (labelKey(s.labels) === key) return s.value;
    return 0;
  }

  /** Sum over every sample of a family whose labels include `match`. */
  sum(name: string, match: Labels = {}): number {
    let total = 0;
    for (const s of this.#samples(name)) {
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  /** Counters and gauges (not histograms) as plain data. */
  snapshot(): Record<string, Sample[]> {
    const out: Record<string, Sample[]> = {};
    for (const name of this.#families.keys()) out[name] = this.#samples(name).map((s) => ({ ...s }));
    return out;
  }

  /** Content type of {@link exposition} (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Every metric in the Prometheus text exposition format. Rejects when a prom-client collector fails
   * (a `gaugeFrom` family that throws is only left out).
   */
  async exposition(): Promise<string> {
    // families computed at scrape time first: their failures are counted in this same scrape
    const computed = new Map<string, Sample[]>();
    for (const [name, f] of this.#families) if (f.collect) computed.set(name, this.#samples(name));
    for (const [name, f] of this.#families)
      this.#expose(name, f, computed.get(name) ?? [...f.samples.values()]);
    return this.registry.metrics();
  }

  /** Copies a family's samples into its prom-client metric. */
  #expose(name: string, f: Family, samples: readonly Sample[]): void {
    const keys = new Set(f.labelNames);
    for (const s of samples) for (const k of Object.keys(s.labels)) keys.add(k);
    if (f.exposed === undefined || keys.size > f.labelNames.length) {
      if (f.exposed !== undefined) this.registry.removeSingleMetric(name);
      f.labelNames = [...keys].sort();
      const config = { name, help: f.help, labelNames: f.labelNames, registers: [this.registry] };
      f.exposed = f.type === "counter" ? new Counter(config) : new Gauge(config);
    }
    f.exposed.reset();
    // prom-client seeds a label-less metric with 0 on reset: a series nobody set (the age of a checkpoint
    // that does not exist yet; a counter whose samples will all carry labels) is left out instead
    if (f.labelNames.length === 0) f.exposed.remove({});
    for (const s of samples) {
      if (f.exposed instanceof Counter) f.exposed.inc(s.labels, s.value);
      else f.exposed.set(s.labels, s.value);
    }
  }

  #samples(name: string): Sample[] {
    const f = this.#families.get(name);
    if (f === undefined) return [];
    if (f.collect === undefined) return [...f.samples.values()];
    try {
      return [...f.collect()];
    } catch {
      this.#collectErrors({ metric: name });
      return [];
    }
  }

  #family(name: string, help: string, type: Family["type"]): Family {
    let f = this.#families.get(name);
    if (!f) {
      if (this.registry.getSingleMetric(name) !== undefined)
        throw new TypeError(`metric ${name} is already registered`);
      f = { help, type, samples: new Map(), labelNames: [] };
      this.#families.set(name, f);
    } else if (f.type !== type || f.collect !== undefined)
      throw new TypeError(`metric ${name} already registered as another kind`);
    return f;
  }
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return keys
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join("\u0000");
}
