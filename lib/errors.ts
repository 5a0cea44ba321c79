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
 * The store disconnected and did not come back within `reconnectTimeout`.
 * The message is koa-generic-session's own, which apps match on: it stays exact.
 */
export class SessionStoreUnavailableError extends SessionError {
  override readonly code = 'ERR_SESSION_STORE_UNAVAILABLE';
  /** How long this request waited for the store, in ms (0 when the window had already closed). */
  readonly waitedMs: number;
  constructor(waitedMs: number, options?: { cause?: unknown }) {
    super('session store is unavailable', options);
    this.waitedMs = waitedMs;
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
