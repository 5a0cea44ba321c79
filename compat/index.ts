// The explicit koa v1 entry point, `koa-generic-session-ts/compat`. The main
// entry already works in koa v1; this one returns a real generator function,
// for koa v1 code that inspects its middleware (is-generator-function looks at
// the source text) or wants nothing but the koa v1 calling convention.
import '../lib/augment.js';
import { createSessionMiddleware, type SessionMiddleware } from '../lib/middleware.js';
import { copyApi, koa1Middleware } from './koa1.js';
import type { SessionContext, SessionOptions } from '../lib/types.js';
import type { SessionEventMap, SessionEventName } from '../lib/events.js';

/** `session(options)` of the koa v1 entry: a generator function, plus the middleware's API. */
export interface Koa1SessionMiddleware extends Pick<SessionMiddleware, 'status' | 'sessionStore' | 'close'> {
  (this: SessionContext, next: Generator): Generator;
  /** The middleware's events, as `SessionMiddleware.on` (see docs/audit.md). */
  on<E extends SessionEventName>(event: E, listener: (...args: SessionEventMap[E]) => void): this;
  off<E extends SessionEventName>(event: E, listener: (...args: SessionEventMap[E]) => void): this;
}

/**
 * Koa v1 session middleware: `function* (next)`, with `this.session`,
 * `yield this.session` (defer), `yield this.regenerateSession()` and
 * `yield this.saveSession()`, as koa-generic-session 1.x. For koa v1 only:
 * koa v2 would wrap it with a deprecation and koa v3 would never run it; the
 * main entry serves all three.
 * @example
 * var session = require('koa-generic-session-ts/compat').session;
 * var app = require('koa')();
 * app.keys = ['a long random secret'];
 * app.use(session({ defer: true }));
 * app.use(function* () { var s = yield this.session; s.views = (s.views || 0) + 1; });
 */
export function session(options?: SessionOptions): Koa1SessionMiddleware {
  const modern = createSessionMiddleware(options);
  return copyApi(koa1Middleware(modern), modern) as Koa1SessionMiddleware;
}

export default session;
export { MemoryStore, type MemoryStoreOptions } from '../lib/store/memory.js';
export {
  SessionError,
  SessionStoreOutageError,
  SessionStoreUnavailableError,
  SessionStoreTimeoutError,
  SessionKeysMissingError,
  SessionKeysInvalidError,
} from '../lib/errors.js';
export type {
  Session,
  SessionContext,
  SessionCookie,
  SessionData,
  SessionOptions,
  SessionStore,
  StoreResult,
  Thunk,
} from '../lib/types.js';
