import * as os from 'node:os';

/**
 * Graceful shutdown.
 *
 * On SIGTERM/SIGINT our listener runs first (prependListener) and flushes within `timeoutMillis`
 * (default 5 s). Then the process ends as it would have ended without us:
 * - nobody else listens (or only `signal-exit`, which acts only when it is the only listener): our
 *   listener is removed and the signal re-raised, so the default action (or signal-exit) ends the
 *   process; if it is still alive 200 ms later it exits with 128 + signal number.
 * - the app listens to the signal itself: it decides, as it would without us (e.g. drains and calls
 *   process.exit(0), keeping that exit code, or keeps running as a CLI does on Ctrl-C): we only flush.
 * A second signal while we flush ends the process at once with 128 + signal number.
 *
 * At the end, on every path that runs JavaScript (process 'exit', and before a signal is re-raised,
 * which ends the process with no 'exit' event), `spillSync` writes what is still held to the durable
 * spill, synchronously.
 *
 * On beforeExit: a flush that keeps the event loop alive for at most `exitFlushMillis` (default
 * 1 s), so that short-lived processes end promptly even when the collector is down. At the deadline
 * the process ends only when no other beforeExit listener exists; otherwise we just stop holding the
 * loop, never cutting short async cleanup the application's own beforeExit listeners started. A later
 * beforeExit flushes again only when records are still queued or in flight and the last flush did not
 * run out of time.
 */
export interface ShutdownHooksOptions {
  /** Flush everything buffered (resolves when done or failed). */
  flush: () => Promise<void>;
  /** Final shutdown of the providers (signal path). */
  shutdown: () => Promise<void>;
  /** Deadline of the signal path, default 5000 ms. */
  timeoutMillis?: number;
  /** Deadline of the beforeExit flush, default 1000 ms. */
  exitFlushMillis?: number;
  /**
   * Called synchronously as the process ends (process 'exit', or before a signal is re-raised,
   * which ends the process without an 'exit' event): writes what is still held to the spill.
   */
  spillSync?: () => void;
  /** true while records wait to be exported; a later beforeExit flushes again only then. */
  pending?: () => boolean;
  signals?: NodeJS.Signals[];
}

export function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    p.then(
      () => (clearTimeout(t), resolve()),
      () => (clearTimeout(t), resolve()),
    );
  });
}

/** Listeners installed by signal-exit (v3 and v4): it re-raises only when it is the only listener. */
function signalExitListeners(): number {
  const v4 = (globalThis as Record<symbol, { count?: unknown } | undefined>)[Symbol.for('signal-exit emitter')];
  const v3 = (process as unknown as { __signal_exit_emitter__?: { count?: unknown } }).__signal_exit_emitter__;
  return (typeof v4?.count === 'number' ? v4.count : 0) + (typeof v3?.count === 'number' ? v3.count : 0);
}

const MAX_EXIT_FLUSHES = 10;

export class ShutdownHooks {
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private installed = false;
  private readonly timeout: number;
  private readonly exitTimeout: number;
  /** The signal being handled (signal path), if any. */
  private signalled: NodeJS.Signals | undefined;
  private ended = false;
  /** beforeExit path: its own flag, so that a signal during it is not ignored. */
  private exitFlushing = false;
  private exitFlushes = 0;
  /** A beforeExit flush ran out of time (collector down): later beforeExits do not hold the loop again. */
  private exitTimedOut = false;
  private exitTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ShutdownHooksOptions) {
    this.timeout = opts.timeoutMillis ?? 5000;
    this.exitTimeout = opts.exitFlushMillis ?? 1000;
  }

  install(): void {
    if (this.installed) return;
    this.installed = true;
    for (const sig of this.opts.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[])) {
      const h = () => this.onSignal(sig);
      this.handlers.set(sig, h);
      process.prependListener(sig, h);
    }
    process.on('beforeExit', this.onBeforeExit);
    process.on('exit', this.onExit);
  }

  uninstall(): void {
    for (const [sig, h] of this.handlers) process.removeListener(sig, h);
    this.handlers.clear();
    process.removeListener('beforeExit', this.onBeforeExit);
    process.removeListener('exit', this.onExit);
    if (this.exitTimer) clearTimeout(this.exitTimer);
    this.exitTimer = undefined;
    this.installed = false;
  }

  private onSignal(sig: NodeJS.Signals): void {
    const num = os.constants.signals[sig] ?? 15;
    if (this.signalled) {
      // asked again while we flush: the user wants out now
      process.exit(128 + num);
    }
    const others = process.listenerCount(sig) - 1;
    const appHandles = others > 0 && others > signalExitListeners();
    if (appHandles) {
      // the app decides when (and whether) the process ends, as it would have without us: flush only
      void this.opts.flush().catch(() => undefined);
      return;
    }
    this.signalled = sig;
    // the signal path owns the end of the process now: the beforeExit deadline must not exit with 0
    if (this.exitTimer) clearTimeout(this.exitTimer);
    this.exitTimer = undefined;
    // nobody else ends the process: keep it alive (a ref'd timer) for at most the deadline
    const hard = setTimeout(() => this.end(sig), this.timeout + 50);
    void withDeadline(this.opts.shutdown(), this.timeout).then(() => {
      clearTimeout(hard);
      this.end(sig);
    });
  }

  /** Ends the process as the signal would have: re-raise, then 128 + signal if still alive. */
  private end(sig: NodeJS.Signals): void {
    if (this.ended) return;
    this.ended = true;
    // the re-raised signal ends the process without an 'exit' event
    this.onExit();
    this.uninstall();
    const num = os.constants.signals[sig] ?? 15;
    // still here after the re-raise (a listener ignored it, or no signals on this platform)
    setTimeout(() => process.exit(128 + num), 200);
    try {
      process.kill(process.pid, sig);
    } catch {
      /* the timer above ends the process */
    }
  }

  /** Never throws: the process is ending. */
  private readonly onExit = (): void => {
    try {
      this.opts.spillSync?.();
    } catch {
      /* counted where it can be; nothing may throw here */
    }
  };

  private readonly onBeforeExit = (): void => {
    if (this.exitFlushing || this.signalled || this.exitTimedOut || this.exitFlushes >= MAX_EXIT_FLUSHES) return;
    // the first beforeExit flushes everything (metrics too); later ones only when records wait
    if (this.exitFlushes > 0 && !(this.opts.pending?.() ?? false)) return;
    this.exitFlushes++;
    this.exitFlushing = true;
    // The exporters' sockets and timers are unref'd: this ref'd timer is what keeps the loop alive
    // for the flush, and only until the deadline. When it fires it lets go; it never exits.
    this.exitTimer = setTimeout(() => {
      this.exitTimer = undefined;
      this.exitTimedOut = true;
      // Nobody else listens to beforeExit: nothing of the app's can be running (the loop was empty
      // when it fired), only our exports and their retries (the SDK's ref'd retry timers): end now.
      // Otherwise the app's own cleanup decides when the process ends.
      if (process.listenerCount('beforeExit') <= 1) process.exit();
    }, this.exitTimeout);
    void this.opts.flush().then(
      () => this.exitFlushDone(),
      () => this.exitFlushDone(),
    );
  };

  private exitFlushDone(): void {
    if (this.exitTimer) clearTimeout(this.exitTimer);
    this.exitTimer = undefined;
    this.exitFlushing = false;
  }
}
