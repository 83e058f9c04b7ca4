import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';

/**
 * HTTP agents whose sockets never keep the process alive. The OTLP exporters send on
 * these: a process whose own work is done ends even while an export is in flight or the
 * collector does not answer. Flushes that must finish (SIGTERM, beforeExit) hold the
 * process with a timer of their own, bounded by their deadline.
 */
function unref(socket: Duplex): Duplex {
  (socket as Duplex & { unref?: () => void }).unref?.();
  return socket;
}

class DetachedHttpAgent extends http.Agent {
  override createConnection(...args: Parameters<http.Agent['createConnection']>): ReturnType<http.Agent['createConnection']> {
    return unref(super.createConnection(...args) as Duplex) as ReturnType<http.Agent['createConnection']>;
  }
  // node's Agent ref()s a socket taken from the keep-alive pool: undo it
  override reuseSocket(socket: import('node:net').Socket, req: http.ClientRequest): void {
    super.reuseSocket(socket, req);
    socket.unref();
  }
}

class DetachedHttpsAgent extends https.Agent {
  override createConnection(...args: Parameters<https.Agent['createConnection']>): ReturnType<https.Agent['createConnection']> {
    return unref(super.createConnection(...args) as Duplex) as ReturnType<https.Agent['createConnection']>;
  }
  override reuseSocket(socket: import('node:net').Socket, req: http.ClientRequest): void {
    super.reuseSocket(socket, req);
    socket.unref();
  }
}

/** An agent factory for the OTLP exporters' `httpAgentOptions`: one agent per protocol, kept alive between exports. */
export function detachedAgentFactory(): (protocol: string) => http.Agent {
  let plain: http.Agent | undefined;
  let tls: https.Agent | undefined;
  return (protocol) =>
    protocol === 'https:' ? (tls ??= new DetachedHttpsAgent({ keepAlive: true })) : (plain ??= new DetachedHttpAgent({ keepAlive: true }));
}
