import * as os from 'node:os';

/**
 * Graceful shutdown. On SIGTERM/SIGINT: flush within `timeoutMillis` (default 5 s); then, if the app
 * installed no handler of its own, end the process as it would have ended without us (re-raise the
 * signal; exit 128 + signal number if it is still alive). With an app handler, the app decides.
 * On beforeExit: one flush, bounded by the same deadline. Nothing here keeps a process alive.
 */
export interface ShutdownHooksOptions {
  /** Flush everything buffered (resolves when done or failed). */
  flush: () => Promise<void>;
  /** Final shutdown of the providers (signal path). */
  shutdown: () => Promise<void>;
  timeoutMillis?: number;
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

export class ShutdownHooks {
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private beforeExitFlushes = 0;
  private flushing = false;
  private installed = false;
  private readonly timeout: number;

  constructor(private readonly opts: ShutdownHooksOptions) {
    this.timeout = opts.timeoutMillis ?? 5000;
  }

  install(): void {
    if (this.installed) return;
    this.installed = true;
    for (const sig of this.opts.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[])) {
      const h = () => this.onSignal(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
    process.on('beforeExit', this.onBeforeExit);
  }

  uninstall(): void {
    for (const [sig, h] of this.handlers) process.removeListener(sig, h);
    this.handlers.clear();
    process.removeListener('beforeExit', this.onBeforeExit);
    this.installed = false;
  }

  private onSignal(sig: NodeJS.Signals): void {
    const ours = this.handlers.get(sig);
    const appHandles = process.listenerCount(sig) > 1;
    if (appHandles) {
      // the app decides when to exit; flush what we can meanwhile
      void this.opts.flush().catch(() => undefined);
      return;
    }
    if (this.flushing) return;
    this.flushing = true;
    // keep the process alive for at most the deadline (a ref'd timer), then end it as it would have ended
    const hard = setTimeout(() => this.reraise(sig, ours), this.timeout + 50);
    void withDeadline(this.opts.shutdown(), this.timeout).then(() => {
      clearTimeout(hard);
      this.reraise(sig, ours);
    });
  }

  private reraise(sig: NodeJS.Signals, ours: (() => void) | undefined): void {
    this.uninstall();
    if (ours) process.removeListener(sig, ours);
    const num = os.constants.signals[sig] ?? 15;
    if (process.listenerCount(sig) === 0) {
      try {
        process.kill(process.pid, sig);
      } catch {
        /* fall through */
      }
    }
    // if the default action did not end us (e.g. Windows), exit as the shell would report it
    setTimeout(() => process.exit(128 + num), 100).unref();
  }

  private readonly onBeforeExit = (): void => {
    if (this.flushing || this.beforeExitFlushes >= 2) return;
    this.beforeExitFlushes++;
    this.flushing = true;
    // a ref'd deadline: the exporter's sockets must not hold the process longer than this
    const code = process.exitCode;
    const hard = setTimeout(() => process.exit(code), this.timeout);
    void withDeadline(this.opts.flush(), this.timeout).then(() => {
      clearTimeout(hard);
      this.flushing = false;
    });
  };
}
