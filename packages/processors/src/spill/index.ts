export { DurableSpill, serviceDirName } from './durable-spill';
export type { ReplayResult, SendOutcome, SpillBatch, SpillCounter, SpilledBatch, SpillStats } from './durable-spill';
export { SIGNALS as SPILL_SIGNALS } from './entry-format';
export type { SpillSignal } from './entry-format';
export { SPILL_DEFAULTS, SPILL_DROP_REASONS, defaultSpillDir, resolveDurableSpillOptions, resolveSpillOptions } from './spill-options';
export type {
  DurableSpillOptions,
  ResolvedDurableSpillOptions,
  ResolveSpillInput,
  SpillConfig,
  SpillDropReason,
  SpillFileLayer,
} from './spill-options';
