import type { TokenUsage } from './response-parser';

/** USD per million tokens. cacheRead / cacheCreation default to the input price. */
export interface ModelPrice {
  input: number;
  output: number;
  cacheRead?: number;
  cacheCreation?: number;
}

/**
 * Prices by provider (a `gen_ai.provider.name` value, or `*` for any) and model. A model key matches
 * the model itself or, failing that, is the longest key the model starts with (`claude-sonnet-4`
 * prices `claude-sonnet-4-20250514`).
 */
export type PriceTable = Record<string, Record<string, ModelPrice>>;

/** Validates a price table from the config file: the first problem, or undefined. */
export function priceTableProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be an object of providers';
  for (const [provider, models] of Object.entries(v)) {
    if (typeof models !== 'object' || models === null || Array.isArray(models)) return `${provider}: must be an object of models`;
    for (const [model, p] of Object.entries(models as Record<string, unknown>)) {
      if (typeof p !== 'object' || p === null) return `${provider}.${model}: must be { input, output, cacheRead?, cacheCreation? }`;
      for (const [k, n] of Object.entries(p)) {
        if (!['input', 'output', 'cacheRead', 'cacheCreation'].includes(k)) return `${provider}.${model}.${k}: unknown price (known: input, output, cacheRead, cacheCreation)`;
        if (typeof n !== 'number' || !(n >= 0)) return `${provider}.${model}.${k}: must be a number >= 0 (USD per million tokens)`;
      }
      const q = p as Partial<ModelPrice>;
      if (q.input === undefined || q.output === undefined) return `${provider}.${model}: needs input and output`;
    }
  }
  return undefined;
}

/** Looks prices up (results remembered, bounded) and turns usage into USD. */
export class Pricing {
  private readonly found = new Map<string, ModelPrice | null>();

  constructor(private readonly table: PriceTable) {}

  get empty(): boolean {
    return Object.keys(this.table).length === 0;
  }

  priceOf(provider: string, model: string): ModelPrice | undefined {
    const key = `${provider}\u0000${model}`;
    let p = this.found.get(key);
    if (p === undefined) {
      p = this.lookup(this.table[provider], model) ?? this.lookup(this.table['*'], model) ?? null;
      if (this.found.size < 1000) this.found.set(key, p);
    }
    return p ?? undefined;
  }

  /** USD for the usage, or undefined without a price or without token counts. */
  costOf(provider: string, models: Array<string | undefined>, u: TokenUsage): number | undefined {
    if (u.input === undefined && u.output === undefined) return undefined;
    let price: ModelPrice | undefined;
    for (const m of models) if (m && (price = this.priceOf(provider, m))) break;
    if (!price) return undefined;
    const cacheRead = u.cacheRead ?? 0;
    const cacheCreation = u.cacheCreation ?? 0;
    const plainInput = Math.max(0, (u.input ?? 0) - cacheRead - cacheCreation);
    const usd =
      plainInput * price.input +
      cacheRead * (price.cacheRead ?? price.input) +
      cacheCreation * (price.cacheCreation ?? price.input) +
      (u.output ?? 0) * price.output;
    return usd / 1e6;
  }

  private lookup(models: Record<string, ModelPrice> | undefined, model: string): ModelPrice | undefined {
    if (!models) return undefined;
    if (models[model]) return models[model];
    let best: string | undefined;
    for (const k of Object.keys(models)) if (model.startsWith(k) && (!best || k.length > best.length)) best = k;
    return best ? models[best] : undefined;
  }
}
