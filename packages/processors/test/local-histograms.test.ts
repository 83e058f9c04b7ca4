import { AggregationTemporality, DataPointType, MeterProvider, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { LocalHistograms } from '../src';
import { TestMetricReader } from './helpers';

/** A reader (with the SDK's own producer bound through a MeterProvider) that also collects `h`. */
function reader(h: LocalHistograms, temporality?: AggregationTemporality) {
  const r = new TestMetricReader({ metricProducers: [h.producer(temporality)] });
  new MeterProvider({ readers: [r] }).getMeter('sdk').createCounter('sdk.counter').add(1);
  return r;
}

async function histograms(r: TestMetricReader) {
  const { resourceMetrics } = await r.collect();
  return resourceMetrics.scopeMetrics;
}

describe('LocalHistograms', () => {
  it('aggregates explicit buckets per attribute set and hands them to the reader next to the SDK metrics, under its scope', async () => {
    const h = new LocalHistograms({ name: 'scope-a', version: '1' });
    const r = reader(h);
    const lat = h.histogram('lat', { unit: 'ms', description: 'd', boundaries: [1, 10] });
    const a = lat.bind({ route: '/a' });
    for (const v of [0.5, 1, 5, 10, 11, 100]) a.record(v);
    lat.record(3, { route: '/b' });
    lat.record(4, { route: '/b' }); // another object with the same content: the same series
    a.record(Number.NaN); // ignored, as the SDK does
    a.record(-1);
    const scopes = await histograms(r);
    expect(scopes.map((s) => s.scope.name)).toEqual(['sdk', 'scope-a']);
    const [m] = scopes[1].metrics as HistogramMetricData[];
    expect(m).toMatchObject({ descriptor: { name: 'lat', unit: 'ms', description: 'd' }, dataPointType: DataPointType.HISTOGRAM, aggregationTemporality: AggregationTemporality.CUMULATIVE });
    const byRoute = Object.fromEntries(m.dataPoints.map((p) => [p.attributes.route, p.value]));
    expect(byRoute['/a']).toEqual({ buckets: { boundaries: [1, 10], counts: [2, 2, 2] }, sum: 127.5, count: 6, min: 0.5, max: 100 });
    expect(byRoute['/b']).toMatchObject({ count: 2, sum: 7, buckets: { counts: [0, 2, 0] } });
  });

  it('cumulative keeps counting across collections; delta starts over after each', async () => {
    const h = new LocalHistograms({ name: 's' });
    const cumulative = reader(h, AggregationTemporality.CUMULATIVE);
    const delta = reader(h, AggregationTemporality.DELTA);
    const s = h.histogram('x').bind({});
    s.record(1);
    await histograms(cumulative);
    const first = (await histograms(delta))[1].metrics[0] as HistogramMetricData;
    expect(first.dataPoints[0].value.count).toBe(1);
    s.record(2);
    const c = (await histograms(cumulative))[1].metrics[0] as HistogramMetricData;
    const d = (await histograms(delta))[1].metrics[0] as HistogramMetricData;
    expect(c.dataPoints[0].value).toMatchObject({ count: 2, sum: 3 });
    expect(d.dataPoints[0].value).toMatchObject({ count: 1, sum: 2 });
    expect(d.dataPoints[0].startTime).toEqual(first.dataPoints[0].endTime);
    // nothing new: delta reports no point (and no scope), cumulative the same totals
    expect(await histograms(delta)).toHaveLength(1);
    expect(((await histograms(cumulative))[1].metrics[0] as HistogramMetricData).dataPoints[0].value.count).toBe(2);
  });

  it('bounds the attribute sets per histogram: beyond 2000, records go to one overflow set', async () => {
    const h = new LocalHistograms({ name: 's' });
    const r = reader(h);
    const x = h.histogram('x');
    for (let i = 0; i < 2005; i++) x.record(1, { i });
    const [m] = (await histograms(r))[1].metrics as HistogramMetricData[];
    expect(m.dataPoints).toHaveLength(2001);
    expect(m.dataPoints.find((p) => p.attributes['otel.metric.overflow'] === true)?.value.count).toBe(5);
  });
});
