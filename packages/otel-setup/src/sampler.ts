import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import { trace, TraceFlags } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace';
import type { Sampler, SamplingResult } from '@opentelemetry/sdk-trace';
import type { SamplerName } from './config/types';

/**
 * OTEL_TRACES_SAMPLER as one sampler whose ratio can change while the process runs (the config
 * file's sampling.ratio). Ratio decision by the trace id, as TraceIdRatioBased does.
 */
export class ReconfigurableSampler implements Sampler {
  private bound = 0xffffffff;
  private readonly parentBased: boolean;
  private readonly root: string;
  constructor(
    private readonly name: SamplerName,
    ratio: number,
  ) {
    this.parentBased = name.startsWith('parentbased_');
    this.root = name.replace('parentbased_', '');
    this.setRatio(ratio);
  }

  setRatio(ratio: number): void {
    const r = Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 1;
    this.bound = Math.floor(r * 0xffffffff);
  }

  shouldSample(ctx: Context, traceId: string, _n: string, _k: SpanKind, _a: Attributes, _l: Link[]): SamplingResult {
    if (this.parentBased) {
      const parent = trace.getSpanContext(ctx);
      if (parent && trace.isSpanContextValid(parent)) {
        return { decision: parent.traceFlags & TraceFlags.SAMPLED ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
      }
    }
    const root = this.root;
    if (root === 'always_on') return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    if (root === 'always_off') return { decision: SamplingDecision.NOT_RECORD };
    let acc = 0;
    for (let i = 0; i < 4; i++) {
      const pos = i * 8;
      acc = (acc ^ parseInt(traceId.slice(pos, pos + 8), 16)) >>> 0;
    }
    return { decision: acc <= this.bound ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }

  toString(): string {
    return `ReconfigurableSampler{${this.name}}`;
  }
}
