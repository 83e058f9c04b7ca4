/*
 * The send worker's script (see SendWorker): runs OtlpPoster for the main thread's exporters.
 * Messages in: 'send' (a batch's bytes, transferred; the first send of an exporter carries its
 * settings) and 'close' (an exporter shut down). Messages out: one SendResult per send.
 */
import { parentPort } from 'node:worker_threads';
import { OtlpPoster, type OtlpSignal, type ResolvedOtlpHttpOptions } from './otlp-http-exporter';

export type SendRequest =
  | { type: 'send'; id: number; poster: number; bytes: Uint8Array; setup?: { signal: OtlpSignal; options: ResolvedOtlpHttpOptions } }
  | { type: 'close'; poster: number };

/** An ExportOutcome as a message (the error as its text). */
export interface SendResult {
  id: number;
  code: number;
  error?: string;
  retryAfterMillis?: number;
  retryable?: boolean;
  /**
   * The request's buffer, given back after a 2xx (the receiver has read the body: no write
   * still reads it). After a failure it stays here, for the garbage collector.
   */
  buffer?: ArrayBuffer;
}

if (parentPort) {
  const port = parentPort;
  const posters = new Map<number, OtlpPoster>();
  port.on('message', (m: SendRequest) => {
    if (m.type === 'close') {
      posters.get(m.poster)?.close();
      posters.delete(m.poster);
      return;
    }
    let poster = posters.get(m.poster);
    if (!poster && m.setup) posters.set(m.poster, (poster = new OtlpPoster(m.setup.signal, m.setup.options)));
    const reply = (r: { code: number; error?: Error; retryAfterMillis?: number; retryable?: boolean }): void => {
      const out: SendResult = { id: m.id, code: r.code };
      if (r.error !== undefined) out.error = String(r.error.message ?? r.error);
      if (r.retryAfterMillis !== undefined) out.retryAfterMillis = r.retryAfterMillis;
      if (r.retryable !== undefined) out.retryable = r.retryable;
      if (r.code === 0) {
        out.buffer = m.bytes.buffer as ArrayBuffer;
        port.postMessage(out, [out.buffer]);
      } else port.postMessage(out);
    };
    if (!poster) reply({ code: 1, error: new Error('send worker: unknown exporter') });
    else poster.send(m.bytes, reply);
  });
}
