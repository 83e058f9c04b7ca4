import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

/**
 * Explicit-bucket histograms aggregated here and handed to the SDK's metric readers as a
 * MetricProducer (the reader merges them with the SDK's own metrics, under the SDK's resource).
 *
 * Why not the SDK's histograms: every SDK record hashes its attribute set (sort + JSON.stringify) and
 * dates itself; the request path records about ten per request. Here an attribute set is bound once
 * (`bind`) and a record is a bucket search and four additions, allocating nothing.
 */
export interface LocalHistogramOptions {
  unit?: string;
  description?: string;
  /** Bucket boundaries, ascending. Default: the SDK's default explicit-bucket boundaries. */
  boundaries?: readonly number[];
}

/** The SDK's default explicit-bucket boundaries. */
const DEFAULT_BOUNDARIES = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];
/** Most attribute sets per histogram (the SDK's default cardinality limit); beyond it, one overflow set. */
const MAX_SERIES = 2000;
const OVERFLOW: Attributes = Object.freeze({ 'otel.metric.overflow': true });
const OVERFLOW_KEY = keyOf(OVERFLOW);
/** A record without attributes: one object, so that it is remembered like any other set. */
const NO_ATTRIBUTES: Attributes = Object.freeze({});

/** One reader's running aggregate of one series. */
class Accumulation {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly counts: number[];
  constructor(
    buckets: number,
    public start: HrTime,
  ) {
    this.counts = new Array<number>(buckets).fill(0);
  }
}

/** A histogram's series for one attribute set: `record` adds a value for every reader. */
export class BoundHistogram {
  /** One per reader (the producers), in producer order. */
  readonly acc: Accumulation[] = [];
  constructor(
    readonly boundaries: readonly number[],
    readonly attributes: Attributes,
  ) {}

  record(value: number): void {
    if (typeof value !== 'number' || value !== value || value < 0) return;
    // first bucket whose upper bound (inclusive) holds the value
    const b = this.boundaries;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value <= b[mid]) hi = mid;
      else lo = mid + 1;
    }
    for (let i = 0; i < this.acc.length; i++) {
      const a = this.acc[i];
      a.count++;
      a.sum += value;
      if (value < a.min) a.min = value;
      if (value > a.max) a.max = value;
      a.counts[lo]++;
    }
  }
}

/** One histogram: its series by attribute set. */
export class LocalHistogram {
  readonly boundaries: readonly number[];
  /** Series by the identity of the attribute object they were bound or last recorded with. */
  private readonly byObject = new WeakMap<Attributes, BoundHistogram>();
  /** Series by their attribute set's content. */
  readonly series = new Map<string, BoundHistogram>();

  constructor(
    private readonly owner: LocalHistograms,
    readonly name: string,
    readonly unit: string,
    readonly description: string,
    boundaries: readonly number[],
  ) {
    this.boundaries = Object.freeze([...boundaries]);
  }

  /** The series of an attribute set; keep it and call its `record`. The set is read now, once. */
  bind(attributes: Attributes): BoundHistogram {
    let s = this.byObject.get(attributes);
    if (s !== undefined) return s;
    const key = keyOf(attributes);
    if (!this.series.has(key) && this.series.size >= MAX_SERIES) return this.seriesFor(OVERFLOW_KEY, OVERFLOW); // not remembered: past the limit
    s = this.seriesFor(key, attributes);
    this.byObject.set(attributes, s);
    return s;
  }

  /** The series under `key`, made on first use (the overflow series too: made once, outside the limit). */
  private seriesFor(key: string, attributes: Attributes): BoundHistogram {
    let s = this.series.get(key);
    if (s === undefined) {
      s = new BoundHistogram(this.boundaries, Object.isFrozen(attributes) ? attributes : Object.freeze({ ...attributes }));
      this.owner._attach(s);
      this.series.set(key, s);
    }
    return s;
  }

  /** A record with an attribute object: cheap when the same object comes again (it is remembered). */
  record(value: number, attributes: Attributes = NO_ATTRIBUTES): void {
    this.bind(attributes).record(value);
  }
}

/** The histograms of one meter scope, and one MetricProducer per reader (`producer`). */
export class LocalHistograms {
  private readonly histograms: LocalHistogram[] = [];
  private readonly producers: Array<{ temporality: AggregationTemporality }> = [];

  /** `scope`: the instrumentation scope the histograms are reported under. */
  constructor(readonly scope: { name: string; version?: string }) {}

  histogram(name: string, options: LocalHistogramOptions = {}): LocalHistogram {
    const h = new LocalHistogram(this, name, options.unit ?? '', options.description ?? '', options.boundaries ?? DEFAULT_BOUNDARIES);
    this.histograms.push(h);
    return h;
  }

  /**
   * A MetricProducer for one metric reader (`metricProducers: [histograms.producer(…)]`), with that
   * reader's temporality. Create every producer before the first record: a series keeps one
   * aggregate per producer known when it was bound.
   */
  producer(temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE): MetricProducer {
    const index = this.producers.length;
    this.producers.push({ temporality });
    const now = hrTime();
    for (const h of this.histograms) for (const s of h.series.values()) s.acc[index] = new Accumulation(h.boundaries.length + 1, now);
    return { collect: async () => this.collect(index) };
  }

  /** @internal a new series gets an aggregate per producer. */
  _attach(s: BoundHistogram): void {
    const now = hrTime();
    for (let i = 0; i < this.producers.length; i++) s.acc[i] = new Accumulation(s.boundaries.length + 1, now);
  }

  private collect(index: number): CollectionResult {
    const temporality = this.producers[index].temporality;
    const end = hrTime();
    const metrics: MetricData[] = [];
    for (const h of this.histograms) {
      const points: DataPoint<Histogram>[] = [];
      for (const s of h.series.values()) {
        const a = s.acc[index];
        if (a === undefined || a.count === 0) continue;
        points.push({
          startTime: a.start,
          endTime: end,
          attributes: s.attributes,
          value: { buckets: { boundaries: h.boundaries as number[], counts: a.counts.slice() }, sum: a.sum, count: a.count, min: a.min, max: a.max },
        });
        if (temporality === AggregationTemporality.DELTA) s.acc[index] = new Accumulation(h.boundaries.length + 1, end);
      }
      if (points.length === 0) continue;
      metrics.push({
        descriptor: { name: h.name, description: h.description, unit: h.unit, valueType: ValueType.DOUBLE },
        aggregationTemporality: temporality,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: points,
      });
    }
    return {
      // the reader keeps its SDK producer's resource: this one is never read
      resourceMetrics: { resource: undefined as never, scopeMetrics: metrics.length ? [{ scope: this.scope, metrics }] : [] },
      errors: [],
    };
  }
}

/** An attribute set's content as a key: sorted names and their values. */
function keyOf(attributes: Attributes): string {
  const keys = Object.keys(attributes).sort();
  return JSON.stringify(keys.map((k) => [k, attributes[k]]));
}
