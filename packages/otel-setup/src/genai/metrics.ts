import type { Attributes, Counter, MeterProvider } from '@opentelemetry/api';
import type { BoundHistogram, LocalHistogram, LocalHistograms } from '@ccr/otel-processors';
import type { TokenUsage } from './response-parser';

/** One finished upstream generation call, as the metrics see it. */
export interface GenAiCallRecord {
  operation: string;
  provider: string;
  requestModel?: string;
  responseModel?: string;
  /** The upstream's HTTP status, when it answered. */
  status?: number;
  errorType?: string;
  /** Dispatch to the end of the answer, in seconds. */
  durationS: number;
  usage: TokenUsage;
  /** Streaming only: dispatch to the first output chunk, and the mean gap between later chunks (s). */
  timeToFirstChunkS?: number;
  timePerOutputChunkS?: number;
  costUsd?: number;
}

// the GenAI conventions' advised bucket boundaries
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TTFC_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const CHUNK_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/** A call's metric attributes and its series in each histogram (input/output: with gen_ai.token.type). */
interface BoundAttributes {
  call: Attributes;
  duration: BoundHistogram;
  ttfc: BoundHistogram;
  perChunk: BoundHistogram;
  input: BoundHistogram;
  output: BoundHistogram;
  /** The duration series of a failed call, by error.type, bound on first use. */
  errors?: Map<string, BoundHistogram>;
}

/** Most attribute sets kept for reuse (beyond it, new ones are built per record). */
const MAX_BOUND = 1024;

/** The first `max` distinct values pass; later new ones become `_OTHER` (bounded metric cardinality). */
export class BoundedNames {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  get(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.seen.size < this.max) {
      this.seen.add(v);
      return v;
    }
    return '_OTHER';
  }
}

/**
 * The GenAI client metrics of the conventions (gen_ai.client.operation.duration, token.usage,
 * time_to_first_chunk, time_per_output_chunk) plus a cost counter, all with the provider, the
 * request and response model (first `maxModels` distinct names, then `_OTHER`), the upstream status
 * and error.type. time_per_output_chunk is recorded once per stream (the mean gap after the first
 * chunk), not once per chunk: one histogram update per chunk would cost more than the parsing.
 * The histograms are LocalHistograms (bound once per attribute set, no hashing per record); the
 * cost counter is the SDK's.
 */
export class GenAiMetrics {
  private readonly duration: LocalHistogram;
  private readonly tokens: LocalHistogram;
  private readonly ttfc: LocalHistogram;
  private readonly perChunk: LocalHistogram;
  private readonly cost: Counter;
  private readonly models: BoundedNames;
  private readonly bound = new Map<string, BoundAttributes>();

  /** `histograms`: reported under the scope `@ccr/otel-setup/genai`, like the meter of the cost counter. */
  constructor(meterProvider: MeterProvider, histograms: LocalHistograms, opts: { maxModels?: number } = {}) {
    const meter = meterProvider.getMeter('@ccr/otel-setup/genai');
    this.models = new BoundedNames(opts.maxModels ?? 100);
    this.duration = histograms.histogram('gen_ai.client.operation.duration', {
      unit: 's',
      description: 'GenAI operation duration.',
      boundaries: DURATION_BUCKETS,
    });
    this.tokens = histograms.histogram('gen_ai.client.token.usage', {
      unit: '{token}',
      description: 'Number of input and output tokens used.',
      boundaries: TOKEN_BUCKETS,
    });
    this.ttfc = histograms.histogram('gen_ai.client.operation.time_to_first_chunk', {
      unit: 's',
      description: 'Time from dispatch to the first output chunk of a streamed answer.',
      boundaries: TTFC_BUCKETS,
    });
    this.perChunk = histograms.histogram('gen_ai.client.operation.time_per_output_chunk', {
      unit: 's',
      description: 'Mean time between output chunks after the first, one value per streamed answer.',
      boundaries: CHUNK_BUCKETS,
    });
    this.cost = meter.createCounter('ccr.gen_ai.cost', { unit: 'USD', description: 'Cost of GenAI calls from the configured price table.' });
  }

  record(c: GenAiCallRecord): void {
    const b = this.attributesOf(c);
    if (c.errorType) {
      const errors = (b.errors ??= new Map());
      let series = errors.get(c.errorType);
      if (series === undefined) {
        series = this.duration.bind({ ...b.call, 'error.type': c.errorType });
        errors.set(c.errorType, series);
      }
      series.record(c.durationS);
      return;
    }
    b.duration.record(c.durationS);
    if (c.usage.input !== undefined) b.input.record(c.usage.input);
    if (c.usage.output !== undefined) b.output.record(c.usage.output);
    if (c.timeToFirstChunkS !== undefined) b.ttfc.record(c.timeToFirstChunkS);
    if (c.timePerOutputChunkS !== undefined) b.perChunk.record(c.timePerOutputChunkS);
    if (c.costUsd !== undefined && c.costUsd > 0) this.cost.add(c.costUsd, b.call);
  }

  /**
   * The attribute sets of a call, built once per distinct (operation, provider, models, status) and
   * reused: a gateway sees few of them, and a record then allocates nothing.
   */
  private attributesOf(c: GenAiCallRecord): BoundAttributes {
    const requestModel = c.requestModel ? this.models.get(c.requestModel) : undefined;
    const responseModel = c.responseModel ? this.models.get(c.responseModel) : undefined;
    const key = `${c.operation}\u0000${c.provider}\u0000${requestModel ?? ''}\u0000${responseModel ?? ''}\u0000${c.status ?? ''}`;
    let b = this.bound.get(key);
    if (b === undefined) {
      const a: Attributes = { 'gen_ai.operation.name': c.operation, 'gen_ai.provider.name': c.provider };
      if (requestModel) a['gen_ai.request.model'] = requestModel;
      if (responseModel) a['gen_ai.response.model'] = responseModel;
      if (c.status) a['http.response.status_code'] = c.status;
      const call = Object.freeze(a);
      b = {
        call,
        duration: this.duration.bind(call),
        ttfc: this.ttfc.bind(call),
        perChunk: this.perChunk.bind(call),
        input: this.tokens.bind({ ...a, 'gen_ai.token.type': 'input' }),
        output: this.tokens.bind({ ...a, 'gen_ai.token.type': 'output' }),
      };
      if (this.bound.size < MAX_BOUND) this.bound.set(key, b);
    }
    return b;
  }
}
