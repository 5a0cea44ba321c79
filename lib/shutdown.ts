import type { Server } from 'node:http';
import { debuglog } from 'node:util';
import type { SessionMiddleware } from './middleware.js';

const debug = debuglog('koa-generic-session:shutdown');

export interface ShutdownOptions {
  /** How long in-flight requests, then in-flight session writes, may take, in ms. Default 10000. */
  timeout?: number;
  /** Close the stores (quit/close/disconnect) at the end. Default `true`. */
  closeStore?: boolean;
}

function positiveTimeout(timeout: unknown): number {
  if (timeout === undefined) return 10_000;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
    throw new TypeError(`shutdown option "timeout" must be a finite number of ms, 0 or more, got ${String(timeout)}`);
  }
  return timeout;
}

/** Stops accepting connections and resolves when every in-flight request has ended (or `timeout` passed). */
function closeServer(server: Server, timeout: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    // keep-alive sockets that go idle after their last response are closed as they appear
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    idle.unref();
    const force = setTimeout(() => {
      debug('requests still running after %dms: closing their connections', timeout);
      server.closeAllConnections();
    }, timeout);
    force.unref();
    server.close(() => {
      clearInterval(idle);
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Graceful shutdown of an HTTP server and its session middleware(s): stop
 * accepting connections, let in-flight requests finish and their sessions
 * save, then close the stores. After it resolves nothing of this package
 * keeps the process alive.
 * @example
 * const server = app.listen(3000);
 * process.once('SIGTERM', () => shutdown(server, sessionMiddleware));
 */
export async function shutdown(
  server: Server,
  middleware: SessionMiddleware | readonly SessionMiddleware[],
  options: ShutdownOptions = {},
): Promise<void> {
  const timeout = positiveTimeout(options.timeout);
  const all = Array.isArray(middleware) ? middleware : [middleware as SessionMiddleware];
  debug('shutting down: no new connections');
  await closeServer(server, timeout);
  debug('requests done: closing %d session middleware(s)', all.length);
  await Promise.all(all.map((m) => m.close({ timeout, closeStore: options.closeStore ?? true })));
}

/**
 * Runs `shutdown()` on the first of `signals` (default SIGTERM and SIGINT).
 * Returns a function that removes the signal listeners.
 * @example closeOnSignal(app.listen(3000), sessionMiddleware, { timeout: 5000 });
 */
export function closeOnSignal(
  server: Server,
  middleware: SessionMiddleware | readonly SessionMiddleware[],
  options: ShutdownOptions & {
    signals?: readonly NodeJS.Signals[];
    /** Called when shutdown is done (or failed); the process then exits by itself once nothing else holds it. */
    onClosed?: (err?: unknown) => void;
  } = {},
): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const onSignal = (signal: NodeJS.Signals) => {
    debug('%s received', signal);
    remove();
    shutdown(server, middleware, options).then(
      () => options.onClosed?.(),
      (err: unknown) => {
        if (options.onClosed) options.onClosed(err);
        else process.exitCode = 1;
      },
    );
  };
  const remove = () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  for (const signal of signals) process.once(signal, onSignal);
  return remove;
}
