import { SeverityNumber } from '@opentelemetry/api';

/** LOG_LEVEL-style names, least to most severe; `silent` refuses everything. */
export type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export const LEVEL_NAMES: readonly LevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Above FATAL4 (24): no record passes. */
export const SILENT_SEVERITY = 25;

const LEVEL_SEVERITY: Record<LevelName, number> = {
  trace: SeverityNumber.TRACE,
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
  fatal: SeverityNumber.FATAL,
  silent: SILENT_SEVERITY,
};

/** The lowest severity number of a level name (case-insensitive; `warning` is accepted). Throws on unknown names. */
export function parseLevel(name: string): number {
  const key = name.trim().toLowerCase();
  const level = (key === 'warning' ? 'warn' : key) as LevelName;
  const sev = LEVEL_SEVERITY[level];
  if (sev === undefined) {
    throw new RangeError(`unknown log level ${JSON.stringify(name)}: use one of ${LEVEL_NAMES.join(', ')}`);
  }
  return sev;
}

/** The level name whose range holds `severity`. */
export function levelName(severity: number): LevelName {
  if (severity >= SILENT_SEVERITY) return 'silent';
  if (severity >= SeverityNumber.FATAL) return 'fatal';
  if (severity >= SeverityNumber.ERROR) return 'error';
  if (severity >= SeverityNumber.WARN) return 'warn';
  if (severity >= SeverityNumber.INFO) return 'info';
  if (severity >= SeverityNumber.DEBUG) return 'debug';
  return 'trace';
}

export interface LevelControllerOptions {
  /** The configured minimum severity. Default `info`. */
  level?: LevelName | number;
}

/**
 * The minimum severity a record needs to be kept. The configured level is raised
 * (never lowered) by a {@link LoadMonitor} while the process is under load; the
 * effective floor is the higher of the two. Reads are one comparison: it sits on the
 * hot path of every emit.
 */
export class LevelController {
  private configured: number;
  private raised = 0;
  /** The effective floor: max(configured, raised). */
  floor: number;

  constructor(options: LevelControllerOptions = {}) {
    this.configured = toSeverity(options.level ?? 'info');
    this.floor = this.configured;
  }

  get configuredLevel(): number {
    return this.configured;
  }

  /** The floor the load monitor asks for, 0 for none. */
  get loadFloor(): number {
    return this.raised;
  }

  setConfiguredLevel(level: LevelName | number): void {
    this.configured = toSeverity(level);
    this.update();
  }

  /** Used by the load monitor: 0 removes its floor. */
  setLoadFloor(severity: number): void {
    this.raised = severity;
    this.update();
  }

  /** Unspecified severity (undefined or 0) is treated as INFO. */
  isEnabled(severity: number | undefined): boolean {
    return (severity || SeverityNumber.INFO) >= this.floor;
  }

  private update(): void {
    this.floor = this.raised > this.configured ? this.raised : this.configured;
  }
}

function toSeverity(level: LevelName | number): number {
  if (typeof level === 'number') {
    if (!Number.isInteger(level) || level < 0 || level > SILENT_SEVERITY) {
      throw new RangeError(`level must be a severity number 0..${SILENT_SEVERITY}, got ${level}`);
    }
    return level;
  }
  return parseLevel(level);
}
