/**
 * Every runtime failure this package raises is a `SessionError` with a stable
 * `code`. Callers branch on `code` or `instanceof`, never on the message: the
 * messages are kept identical to koa-generic-session's where apps already
 * match on them.
 */
export class SessionError extends Error {
  readonly code: string = 'ERR_SESSION';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The store cannot serve right now; the same request may succeed later. Koa's
 * own error handling answers 503 from `statusCode` (koa v1, which reads only
 * `status`, through the context's onerror that the middleware wraps), and,
 * because `expose` is false, with the generic body "Service Unavailable": the
 * message names the store's internals (a command, an address) and stays in the
 * logs. `status` stays unset, as in koa-generic-session 2.3.1: an app's own
 * error middleware that answers `err.status || 500` answers 500 as it did.
 */
export class SessionStoreOutageError extends SessionError {
  // a plain writable field: Koa assigns `err.status` itself while answering
  statusCode = 503;
  expose = false;
}

/**
 * The store disconnected and did not come back within `reconnectTimeout`.
 * The message is koa-generic-session's own, which apps match on: it stays exact.
 */
export class SessionStoreUnavailableError extends SessionStoreOutageError {
  override readonly code = 'ERR_SESSION_STORE_UNAVAILABLE';
  /** How long this request waited for the store, in ms (0 when the window had already closed). */
  readonly waitedMs: number;
  constructor(waitedMs: number, options?: { cause?: unknown }) {
    super('session store is unavailable', options);
    this.waitedMs = waitedMs;
  }
}

/** The store calls `storeTimeout` bounds, as `SessionStoreTimeoutError.method` names them. */
export type StoreMethod = 'get' | 'set' | 'merge' | 'destroy' | 'touch' | 'listOwned' | 'destroyOwned';

/**
 * A store call did not settle within the session middleware's `storeTimeout`.
 * The request stopped waiting for it and its late result is ignored; the
 * store may still complete the call later (see the docs on outages).
 */
export class SessionStoreTimeoutError extends SessionStoreOutageError {
  override readonly code = 'ERR_SESSION_STORE_CALL_TIMEOUT';
  /** The store method that did not answer. */
  readonly method: StoreMethod;
  /** The `storeTimeout` in force, in ms. */
  readonly timeoutMs: number;
  constructor(method: StoreMethod, timeoutMs: number) {
    super(
      `session store did not answer ${method}() within ${timeoutMs}ms: the request stopped waiting for it. ` +
        'Raise the storeTimeout option of session() if the store is often this slow',
    );
    this.method = method;
    this.timeoutMs = timeoutMs;
  }
}

/** Signed cookies were asked for but the app has no `app.keys`. */
export class SessionKeysMissingError extends SessionError {
  override readonly code = 'ERR_SESSION_KEYS_MISSING';
  constructor() {
    super(
      'signed session cookies need app.keys: set app.keys = [\'a long random secret\'] ' +
        'before the first request, or pass cookie: { signed: false } to session() (not recommended)',
    );
  }
}

/**
 * `app.keys` is set but cannot sign: not an array (or Keygrip), or an entry
 * that is empty or not a string. The message says which, never the keys.
 */
export class SessionKeysInvalidError extends SessionError {
  override readonly code = 'ERR_SESSION_KEYS_INVALID';
  constructor(problem: string) {
    super(
      `${problem}: signed session cookies need app.keys = ['a long random secret', ...], ` +
        'an array of non-empty strings (or a Keygrip instance), set before the first request',
    );
  }
}

/**
 * The `describe` option threw or returned something that cannot be recorded:
 * not a flat object of strings, numbers, booleans and nulls, or longer than
 * `limit` characters as JSON. Reported on the app's `error` event; the
 * session is saved without device info, so a sign-in is never lost over it.
 */
export class SessionDescribeError extends SessionError {
  override readonly code = 'ERR_SESSION_DESCRIBE';
  constructor(problem: string, options?: { cause?: unknown }) {
    super(`session() option "describe" ${problem}; the session was saved without device info`, options);
  }
}
