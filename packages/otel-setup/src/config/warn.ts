/** Where configuration problems go: one line on stderr each, never an exception into the host app. */
export type WarnFn = (message: string) => void;

const seen = new Set<string>();

export const stderrWarn: WarnFn = (message) => {
  if (seen.has(message)) return;
  seen.add(message);
  try {
    process.stderr.write(`[ccr-otel] ${message}\n`);
  } catch {
    /* stderr closed: nothing else to do */
  }
};
