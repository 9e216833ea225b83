/** Label set of a metric sample; values are wire strings. */
export type Labels = Readonly<Record<string, string>>;

interface Family {
  help: string;
  type: "counter" | "gauge";
  samples: Map<string, { labels: Labels; value: number }>;
}

/**
 * In-process counters and gauges, exposed in Prometheus text format and as a JSON snapshot
 * (for `vitalog status`). Names follow Prometheus conventions (`_total` for counters).
 */
export class Metrics {
  #families = new Map<string, Family>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const family = this.#family(name, help, "counter");
    return (labels = {}, by = 1) => {
      const key = labelKey(labels);
      const sample = family.samples.get(key);
      if (sample) sample.value += by;
      else family.samples.set(key, { labels, value: by });
    };
  }

  gauge(name: string, help: string): (value: number, labels?: Labels) => void {
    const family = this.#family(name, help, "gauge");
    return (value, labels = {}) => {
      family.samples.set(labelKey(labels), { labels, value });
    };
  }

  /** Current value of one sample (0 when never touched). */
  value(name: string, labels: Labels = {}): number {
    return this.#families.get(name)?.samples.get(labelKey(labels))?.value ?? 0;
  }

  /** Sum over every sample of a family whose labels include `match`. */
  sum(name: string, match: Labels = {}): number {
    let total = 0;
    for (const s of this.#families.get(name)?.samples.values() ?? []) {
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  snapshot(): Record<string, Array<{ labels: Labels; value: number }>> {
    const out: Record<string, Array<{ labels: Labels; value: number }>> = {};
    for (const [name, f] of this.#families) out[name] = [...f.samples.values()].map((s) => ({ ...s }));
    return out;
  }

  /** Prometheus text exposition format 0.0.4. */
  toPrometheus(): string {
    const lines: string[] = [];
    for (const [name, f] of this.#families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      for (const s of f.samples.values()) {
        const labels = Object.entries(s.labels)
          .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
          .join(",");
        lines.push(`${name}${labels ? `{${labels}}` : ""} ${s.value}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }

  #family(name: string, help: string, type: Family["type"]): Family {
    let f = this.#families.get(name);
    if (!f) {
      f = { help, type, samples: new Map() };
      this.#families.set(name, f);
    } else if (f.type !== type) throw new TypeError(`metric ${name} already registered as a ${f.type}`);
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
