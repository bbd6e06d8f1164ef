/**
 * The HTTP request latency histogram: observed on every request, so it keeps its own counts.
 *
 * prom-client's `Histogram.observe` validates the label object and builds a sorted string key from
 * it on every call — about as much work as the rest of the host's edge together. Here a series is
 * found through three small maps whose keys are the values themselves (route pattern, method,
 * status), and prom-client's registry still writes the exposition: it asks any registered metric
 * for `get()` and prints what that returns.
 *
 * @packageDocumentation
 */
import type { Registry } from 'prom-client';

interface Series {
  readonly labels: { readonly method: string; readonly route: string; readonly status: string };
  /** Observations per bucket, not cumulative; the last slot is above every bound (`+Inf`). */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** One line of the exposition, in the shape prom-client's registry prints. */
interface ExportedValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** Latency by `method`, `route` and `status`, exposed as a Prometheus histogram. */
export class RequestHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #byRoute = new Map<string, Map<string, Map<number, Series>>>();

  /** Registers itself in `registry` under `name`. `bounds` are bucket upper bounds in seconds. */
  constructor(registry: Registry, name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = Object.freeze([...bounds].sort((a, b) => a - b));
    // The registry's type names only its own classes; it relies on `name` and `get()` alone.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Records one request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.#byRoute.get(route);
    if (byMethod === undefined) {
      byMethod = new Map<string, Map<number, Series>>();
      this.#byRoute.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map<number, Series>();
      byMethod.set(method, byStatus);
    }
    let series = byStatus.get(status);
    if (series === undefined) {
      series = {
        labels: Object.freeze({ method, route, status: String(status) }),
        counts: new Array<number>(this.#bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      byStatus.set(status, series);
    }
    // Prometheus buckets are "less than or equal": the first bound not below the value.
    let i = 0;
    for (const bound of this.#bounds) {
      if (seconds <= bound) break;
      i++;
    }
    series.counts[i] = (series.counts[i] ?? 0) + 1;
    series.sum += seconds;
    series.count += 1;
  }

  /** @internal The exposition, for prom-client's registry: cumulative buckets, sum, count. */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: ExportedValue[];
  }> {
    const values: ExportedValue[] = [];
    for (const byMethod of this.#byRoute.values()) {
      for (const byStatus of byMethod.values()) {
        for (const series of byStatus.values()) {
          let cumulative = 0;
          this.#bounds.forEach((le, i) => {
            cumulative += series.counts[i] ?? 0;
            values.push({
              metricName: `${this.name}_bucket`,
              labels: { ...series.labels, le },
              value: cumulative,
            });
          });
          values.push(
            {
              metricName: `${this.name}_bucket`,
              labels: { ...series.labels, le: '+Inf' },
              value: series.count,
            },
            { metricName: `${this.name}_sum`, labels: series.labels, value: series.sum },
            { metricName: `${this.name}_count`, labels: series.labels, value: series.count },
          );
        }
      }
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  /** Forgets every series (prom-client's `registry.resetMetrics()` calls it). */
  reset(): void {
    this.#byRoute.clear();
  }
}
