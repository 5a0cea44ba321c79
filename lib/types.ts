import type { ParameterizedContext } from 'koa';

/** Cookie options of one session, as `cookies.set()` takes them. `maxAge` is in ms. */
export interface SessionCookie {
  /** Lifetime in ms; `null` or `undefined` makes a browser-session cookie. */
  maxAge?: number | null;
  /** Legacy spelling of `maxAge` (connect); moved to `maxAge` on save. */
  maxage?: number | null;
  /** Absolute expiry; takes priority over `maxAge` for the store's ttl. */
  expires?: Date;
  path?: string;
  domain?: string;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: 'strict' | 'lax' | 'none' | boolean;
  signed?: boolean;
  overwrite?: boolean;
  priority?: 'low' | 'medium' | 'high';
  partitioned?: boolean;
  /**
   * @deprecated Listed in koa-generic-session 1.x's README defaults but never
   * read by it or by `cookies`: accepted so 1.x configurations load, and ignored.
   */
  rewrite?: boolean;
  /**
   * @deprecated `cookies`' old name for forcing the Secure attribute without
   * checking that the request is https; use `secure` (and `app.proxy`).
   * Passed on to `cookies`, as koa-generic-session did.
   */
  secureProxy?: boolean;
}

/**
 * Apps describe their own session fields by merging into this interface:
 * `declare module 'koa-generic-session-ts' { interface SessionData { userId?: string } }`
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-empty-object-type
export interface SessionData {}

/** The session object a request sees as `ctx.session`. */
export type Session = SessionData & { cookie: SessionCookie; [field: string]: unknown };

/** A node-style thunk, as thunkify makes them: `(callback) => void`. */
export type Thunk<T> = (callback: (err: unknown, value?: T) => void) => void;

/**
 * What a store method may return: a value, a Promise or thenable, a thunk, or
 * a generator (koa-redis 2.x and other koa v1 stores). All are normalized.
 */
export type StoreResult<T> = T | PromiseLike<T> | Thunk<T> | Generator<unknown, T, unknown>;

/**
 * What one request changed in a loaded session, at the top level: keys to set
 * (added or changed, `cookie` included) and keys to delete.
 */
export interface SessionPatch {
  set: Record<string, unknown>;
  unset: string[];
  /**
   * Set by the middleware: the JSON text (as `JSON.stringify` wrote it) the
   * request loaded the session from. A store that holds exactly this text
   * has seen no other write since, and may store `json` as it is: the same
   * session as `set`/`unset` applied onto it, without computing either.
   */
  readonly base?: string;
  /** Set by the middleware with `base`: `JSON.stringify` of the whole session now. */
  readonly json?: string;
}

/**
 * Owner bookkeeping that rides along with a write (opt-in `owner` option):
 * the session's owner now, and the owner it had when the request loaded it.
 * Absent for sessions without an owner, so they cost nothing extra.
 */
export interface OwnerChange {
  owner?: string | undefined;
  previous?: string | undefined;
  /**
   * With the `describe` option: the device info as JSON text (an object, at
   * most `DEVICE_INFO_MAX` characters), recorded with the owner's entry of
   * this session together with the time of this write (`lastSeenAt`).
   */
  info?: string | undefined;
  /**
   * With the `maxSessionsPerOwner` option: when this write records a session
   * that `owner` did not have yet and the owner then has more than `limit`,
   * the store ends the ones seen least recently (by `lastSeenAt`) until
   * `limit` remain, never the one being written.
   */
  limit?: number | undefined;
  /** Filled by the store: the keys of the sessions it ended to keep `limit`. */
  ended?: string[] | undefined;
}

/** What the `describe` option returns: a flat object of short values. */
export type DeviceInfo = Record<string, string | number | boolean | null>;

/** One live session of an owner, as a store reports it (keys are store keys). */
export interface OwnedSession {
  key: string;
  /** Epoch ms of the first save with this owner. */
  createdAt: number;
  /** Epoch ms of the last save. */
  savedAt: number;
  /** Epoch ms when it expires, or null for no expiry. */
  expiresAt: number | null;
  /** Epoch ms of the last write that recorded it (a save, or a `rolling` extension). */
  lastSeenAt?: number;
  /** The device info (`OwnerChange.info`) of its last write that carried some, as JSON text. */
  info?: string;
}

/**
 * A session store. Keys arrive already prefixed (`prefix + sessionId`);
 * `ttl` is in ms and `undefined` when the session has no expiry.
 */
export interface SessionStore {
  get(key: string): StoreResult<Session | Record<string, unknown> | null | undefined>;
  set(key: string, session: Session, ttl?: number, owner?: OwnerChange): StoreResult<unknown>;
  destroy(key: string, owner?: OwnerChange): StoreResult<unknown>;
  /** Optional: extend a key's ttl without rewriting it (used by `rolling`). */
  touch?(key: string, ttl?: number, owner?: OwnerChange): StoreResult<unknown>;
  /**
   * Optional: apply `patch` atomically onto whatever the store holds now and
   * reset the ttl, so concurrent requests that change different keys all keep
   * their changes. Must write nothing and resolve `false` when the key no
   * longer exists (destroyed or expired): a late merge never resurrects a
   * session. Stores without it get whole-session `set()`s.
   */
  merge?(key: string, patch: SessionPatch, ttl?: number, owner?: OwnerChange): StoreResult<boolean>;
  /**
   * Optional (used by `hashIds: { migrate: true }`): atomically move the
   * session at `fromKey` to `toKey`, keeping its ttl, unless `toKey` already
   * holds one; resolve the session at `toKey` afterwards, or null when
   * neither key holds one. Stores without it get a `set` of the new key
   * followed by a `destroy` of the old one.
   */
  move?(fromKey: string, toKey: string): StoreResult<Session | Record<string, unknown> | null | undefined>;
  /**
   * Optional (needed by the `owner` option): the live sessions recorded for
   * `owner`. Stores that index owners record a session's key under its owner
   * on every `set`/`merge`/`touch` that passes an `OwnerChange`, move it when
   * the owner changes and drop it on `destroy`.
   */
  listOwned?(owner: string): StoreResult<OwnedSession[]>;
  /** Optional (needed by `owner`): destroys every session of `owner` but `exceptKey`; resolves how many. */
  destroyOwned?(owner: string, exceptKey?: string): StoreResult<number>;
  /** Optional shutdown hooks, tried in this order by `close()`. */
  quit?(): StoreResult<unknown>;
  close?(): StoreResult<unknown>;
  disconnect?(): StoreResult<unknown>;
  /** Stores that emit `connect` and `disconnect` are watched (see `reconnectTimeout`). */
  on?(event: 'connect' | 'disconnect', listener: () => void): unknown;
  off?(event: 'connect' | 'disconnect', listener: () => void): unknown;
  removeListener?(event: 'connect' | 'disconnect', listener: () => void): unknown;
}

/**
 * Where the session id travels between requests; called with the context as
 * `this`. `Ctx` lets an app type `this` as its own context (say `Koa.Context`
 * with its additions), as @types/koa-generic-session allowed.
 */
export interface SessionIdStore<Ctx = SessionContext> {
  get(this: Ctx): string | null | undefined;
  set(this: Ctx, sid: string, session: Session): void;
  reset(this: Ctx): void;
}

/** A Koa context as this package sees it (koa v1 `this`, or koa v2/v3 `ctx`). */
export type SessionContext = ParameterizedContext;

/** The error types handed to `errorHandler`. */
export type SessionErrorType = 'get' | 'set' | 'destroy';

/**
 * The store watcher's states. `closed` is final: the middleware's `close()`
 * was called; it follows whatever state the store was in, never `available`
 * on the way.
 */
export type StoreStatus = 'available' | 'pending' | 'unavailable' | 'closed';

/**
 * The callbacks are declared as methods so an app may narrow their parameters,
 * as @types/koa-generic-session let it: `errorHandler(err: Error, type:
 * string, ctx: Koa.Context)` compiles, and so does `valid(ctx: MyContext, …)`.
 */
export interface SessionOptions {
  /** Cookie name. Default `'koa.sid'`. */
  key?: string;
  /** Prefix of every store key. Default `'koa:sess:'`. */
  prefix?: string;
  /** Session store. Default: a new `MemoryStore` (not for production). */
  store?: SessionStore;
  /**
   * Store ttl in ms, or a function of the session returning ms. Default: from
   * `cookie.expires`, else `cookie.maxAge`. A ttl at or below 0 removes the session.
   */
  ttl?: number | ((session: Session) => number | null | undefined);
  /**
   * Reset the cookie and the store ttl on every request (`true`), or only on
   * requests that come `renewAfter` ms or more after the last extension
   * (`{ renewAfter }`): the others send no store command beyond the read and
   * set no cookie, and idle expiry is then exact to within `renewAfter`.
   * A changed session is saved (and extended) either way. Default `false`.
   */
  rolling?: boolean | { renewAfter: number };
  /**
   * Ends a session this many ms after it was created or regenerated (a
   * login), however active it is and whatever `rolling` does; the next
   * request gets a new session and the old one is destroyed. The start time
   * is stored with the session (never in the cookie), and the store ttl never
   * runs past the end. Sessions stored before the option was on get their
   * start time on their next write. Default: none.
   */
  absoluteTimeout?: number;
  /**
   * Store sessions under a hash of their id (`prefix` + base64url SHA-256,
   * or HMAC-SHA256 with `secret`) instead of the id, so what the store holds
   * (a dump, a backup, a replica) cannot be sent back as a cookie.
   * `{ migrate: true }` moves sessions stored under their raw id to their
   * hashed key on their first request. Default `false`.
   */
  hashIds?: boolean | HashIdsOptions;
  /** Load the session only when `await ctx.session` asks for it. Default `false`. */
  defer?: boolean;
  /** Store new sessions even when untouched. Default `false`. */
  allowEmpty?: boolean;
  /** Session id generator, called with the context as `this` and 24. Default: 24 random characters in uid2's URL-safe alphabet (144 bits). */
  genSid?(this: SessionContext, length: number): string | PromiseLike<string>;
  /** Store error handler. Default: rethrow with name `'koa-generic-session <type> error'`. */
  errorHandler?(err: unknown, type: SessionErrorType, ctx: SessionContext): void;
  /** Return false to discard a loaded session and start a new one. */
  valid?(ctx: SessionContext, session: Session): boolean;
  /** Called just before a session is written. */
  beforeSave?(ctx: SessionContext, session: Session): void;
  /** Where the session id travels. Default: the `key` cookie. */
  sessionIdStore?: SessionIdStore;
  /** Cookie options. Default `{ path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 86400000 }`. */
  cookie?: SessionCookie;
  /** How long requests wait for a disconnected store, in ms. Default 10000. */
  reconnectTimeout?: number;
  /**
   * The longest one store call (get, set, merge, destroy, touch, and the owner
   * index calls) may take, in ms. Past it the request fails with
   * `SessionStoreTimeoutError` (503) and the call's late result is ignored; a
   * store that cannot cancel may still apply a late write (see the docs on
   * outages). Default 10000, far above what a healthy store takes (RedisStore
   * gives up on its own after its `commandTimeout`, 2000 by default).
   */
  storeTimeout?: number;
  /**
   * Opt-in owner index: a function of the session returning its owner (for
   * example the user id) or undefined. Sessions that have one are recorded
   * under it in the store, so `listSessions(owner)` and
   * `destroySessions(owner)` can find them. Needs a store with `listOwned`
   * and `destroyOwned` (MemoryStore, RedisStore).
   */
  owner?: (session: Session) => string | null | undefined;
  /**
   * The secret session handles (`listSessions()`, the events) are keyed with:
   * an HMAC-SHA256 of the store key. Give every process of the app the same
   * one, and keep it when `app.keys` rotate: a new one changes every handle.
   * Default: a public key, so a handle is a plain hash of the store key (not
   * reversible for the default random ids; set one when `genSid` makes
   * guessable ids or handles leave your systems, e.g. in audit logs).
   */
  handleKey?: string;
  /**
   * With `owner`: what to show of the device a session is used from, such as
   * `{ userAgent: ctx.get('user-agent'), ip: ctx.ip }`, a flat object of
   * strings, numbers, booleans and nulls, at most 1024 characters as JSON.
   * Called on every save and `rolling` extension of a session with an owner;
   * recorded in the owner index by the same store write, and returned by
   * `listSessions()` as `info`. A value past the bound, or one that throws, is
   * reported as a `SessionDescribeError` on the app's `error` event and the
   * session is saved without it.
   */
  describe?(ctx: SessionContext, session: Session): DeviceInfo;
  /**
   * With `owner`: the most sessions one owner may have. A save that records a
   * new session of an owner who already has this many ends the ones seen
   * least recently (by `lastSeenAt`). Default: no limit.
   */
  maxSessionsPerOwner?: number;
  /**
   * Save only what a request changed (top-level keys), merged atomically into
   * the stored session, when the store supports it (`merge()`); `false` brings
   * back whole-session saves. Default `true`.
   */
  merge?: boolean;
  /**
   * While the store is unavailable, serve an empty session that is never
   * saved and set `ctx.sessionDegraded = true`, instead of failing. Default `false`.
   */
  degraded?: boolean;
}

/** The `hashIds` option's object form. */
export interface HashIdsOptions {
  /**
   * Key of the HMAC-SHA256 that turns ids into store keys. Never change it
   * (every session would be lost); it is not `app.keys`, which rotate.
   * Default: none, a plain SHA-256 of the id.
   */
  secret?: string;
  /**
   * Look a session up under its raw id when its hashed key misses, and move it
   * there. Turn it off once the longest session lifetime has passed since it
   * was turned on. Default `false`.
   */
  migrate?: boolean;
}

/** Options of `middleware.close()`. */
export interface CloseOptions {
  /** How long to wait for in-flight session saves, in ms. Default 10000. */
  timeout?: number;
  /** Close the store (quit/close/disconnect) once saves are done. Default `true`. */
  closeStore?: boolean;
}
