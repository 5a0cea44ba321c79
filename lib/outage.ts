import { debuglog } from 'node:util';
import { SessionStoreOutageError } from './errors.js';

const debug = debuglog('koa-generic-session:outage');

type Listener = (...args: unknown[]) => void;

/** The part of a Koa application (v1, v2 or v3) this module touches. */
interface KoaApp {
  onerror?: unknown;
  silent?: unknown;
  rawListeners(event: 'error'): Function[];
  removeListener(event: 'error', listener: Listener): unknown;
  on(event: 'error', listener: Listener): unknown;
}

interface Registry {
  /** Errors this package threw for an outage, which the app's Koa default logger then skips. */
  quiet: WeakSet<object>;
  /** app -> the listener that replaced Koa's default one. */
  filters: WeakMap<object, Function>;
  /** app.context objects whose onerror answers outage errors 503. */
  contexts?: WeakSet<object>;
}

// Shared by every copy of this package in the process (an ESM and a CommonJS
// one, two versions): one filter per app, which knows every copy's errors.
const REGISTRY = Symbol.for('koa-generic-session-ts.outage');
const registry = ((globalThis as { [REGISTRY]?: Registry })[REGISTRY] ??= {
  quiet: new WeakSet(),
  filters: new WeakMap(),
});
const { quiet, filters } = registry;
const contexts = (registry.contexts ??= new WeakSet());

/**
 * Outage errors leave `status` unset, so that an app's own error middleware
 * sees what koa-generic-session gave it (`err.status || 500` stays 500), and
 * carry `statusCode: 503`, which koa v2 and v3 answer. koa v1's ctx.onerror
 * reads `status` alone: this wraps an app's context onerror, once, so that
 * Koa's own answer to an outage error is 503 in every version. koa v1 binds
 * onerror when it creates a context, so it applies from the next request on.
 */
export function answerOutages503(context: object): void {
  const onerror = (context as { onerror?: unknown }).onerror;
  if (typeof onerror !== 'function' || contexts.has(context)) return;
  contexts.add(context);
  (context as { onerror: Listener }).onerror = function onerror503(this: unknown, err: unknown, ...rest: unknown[]) {
    if (err instanceof SessionStoreOutageError && (err as { status?: unknown }).status === undefined) {
      (err as { status?: number }).status = err.statusCode;
    }
    return (onerror as Listener).call(this, err, ...rest);
  };
}

function isKoaApp(app: unknown): app is KoaApp {
  const a = app as Partial<KoaApp> | null;
  return (
    a !== null &&
    typeof a === 'object' &&
    typeof a.rawListeners === 'function' &&
    typeof a.removeListener === 'function' &&
    typeof a.on === 'function'
  );
}

/**
 * Koa's default `error` listener, `app.onerror`, prints the stack of every
 * error that is not `expose`d: during an outage, one stack per request.
 * Exposing the error would stop that, but Koa (and most error middleware)
 * would then send its message, which names the store's internals, to the
 * client. So when the app logs through that default listener (the one Koa
 * installs when the app has none of its own), it is replaced, once, by one
 * that skips the outage errors this package has reported and passes every
 * other error on. Returns whether the app's logging is that filtered default.
 * An app with its own `error` listener is left alone: it sees every error.
 */
function filterDefaultLogger(app: KoaApp): boolean {
  const listeners = app.rawListeners('error');
  const installed = filters.get(app);
  if (installed !== undefined) return listeners.includes(installed);
  const stock = app.onerror;
  if (typeof stock !== 'function' || Object.prototype.hasOwnProperty.call(app, 'onerror') || !listeners.includes(stock)) {
    return false;
  }
  const filtered = function onerror(this: unknown, err: unknown, ...rest: unknown[]): unknown {
    if (err !== null && typeof err === 'object' && quiet.has(err)) return undefined;
    return (stock as Listener).call(this, err, ...rest);
  };
  // as Node's once() wrappers do: `app.listeners('error')` still shows Koa's
  // listener, and `app.removeListener('error', app.onerror)` removes this one
  (filtered as { listener?: unknown }).listener = stock;
  app.removeListener('error', stock as Listener);
  app.on('error', filtered);
  filters.set(app, filtered);
  return true;
}

/**
 * Logs store outages once each instead of once per request: a debug line
 * (NODE_DEBUG=koa-generic-session:outage) when requests start failing with a
 * `SessionStoreOutageError` and when the store answers again; and, for apps
 * whose per-request stacks it keeps out of Koa's default logger, one warning
 * line on stderr at each end of the outage (none when `app.silent`).
 */
export class OutageLog {
  #since: number | undefined = undefined;
  #failed = 0;
  /** The app whose logger was quieted and that got the opening line, so it gets the closing one too. */
  #warned: KoaApp | undefined = undefined;

  /** True when `err` is one of the "the store cannot serve now" errors. */
  static isOutage(err: unknown): err is SessionStoreOutageError {
    return err instanceof SessionStoreOutageError;
  }

  /** A request failed (or its late save failed) with an outage error. */
  failed(app: unknown, err: SessionStoreOutageError): void {
    const quieted = isKoaApp(app) && filterDefaultLogger(app);
    if (quieted) quiet.add(err);
    this.#failed++;
    if (this.#since !== undefined) return;
    this.#since = Date.now();
    debug('store outage began: %s %s', err.code, err.message);
    if (quieted && !(app as KoaApp).silent) {
      this.#warned = app as KoaApp;
      console.warn(
        `koa-generic-session: session store outage: requests answer 503 until the store serves again ` +
          `(${err.code}: ${err.message}); this is logged once, not per request`,
      );
    }
  }

  /** The store answered a call, or reconnected: an outage in progress is over. */
  recovered(): void {
    const since = this.#since;
    if (since === undefined) return;
    const seconds = ((Date.now() - since) / 1000).toFixed(1);
    const failed = this.#failed;
    debug('store outage ended after %ss, %d failed requests', seconds, failed);
    if (this.#warned !== undefined && !this.#warned.silent) {
      console.warn(
        `koa-generic-session: session store serves again after ${seconds}s; ${failed} request(s) failed with 503 meanwhile`,
      );
    }
    this.#since = undefined;
    this.#failed = 0;
    this.#warned = undefined;
  }
}
