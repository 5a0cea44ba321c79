import { debuglog } from 'node:util';
import type { EventEmitter } from 'node:events';
import type {
  CloseOptions,
  SessionCookie,
  OwnerChange,
  Session,
  SessionContext,
  SessionErrorType,
  SessionOptions,
  SessionStore,
  StoreStatus,
} from './types.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { compatMaxAge, cookieSetOptions, hasExpired, isPlainObject, sessionChange, sessionTtl, toSession, withCookie } from './session.js';
import { uid } from './sid.js';
import { absoluteRemaining, capTtl, metaForWrite, takeMeta, withMeta, type SessionMeta } from './lifetime.js';
import { SessionCookieReader, assertKeys, setSessionCookie, type VerifiedSignature } from './cookie.js';
import { checkKeys } from './keys.js';
import { OutageLog, answerOutages503 } from './outage.js';
import { deviceInfo } from './device.js';
import { StoreAdapter, type MaybePromise } from './store/adapter.js';
import { PrefixedStore } from './store/prefixed.js';
import { SessionKeys } from './session-keys.js';
import { StoreWatcher } from './store/watcher.js';
import { MemoryStore } from './store/memory.js';
import { SessionEvents, type SessionEventMap, type SessionEventName } from './events.js';

const debug = debuglog('koa-generic-session');

/** Shared by every copy of this package, so a second session middleware on one app steps aside. */
const STATE = Symbol.for('koa-generic-session-ts.request');

// the exact text of koa-generic-session, which some deployments grep their logs for
const MEMORY_STORE_WARNING =
  "Warning: koa-generic-session's MemoryStore is not\n" +
  'designed for a production environment, as it will leak\n' +
  'memory, and will not scale past a single process.';

export type Next = () => Promise<unknown>;

/** `session(options)`'s result: Koa middleware with store status, events and `close()`. */
export interface SessionMiddleware {
  (ctx: SessionContext, next: Next): Promise<void>;
  /** The store watcher's state: `'available' | 'pending' | 'unavailable'`, and `'closed'` from `close()` on. */
  readonly status: StoreStatus;
  /** The store as `ctx.sessionStore` shows it (un-prefixed ids). */
  readonly sessionStore: PrefixedStore;
  /**
   * `status` (status, previous) on every store transition; `invalid` when
   * stored data is refused; and the audit events `created`, `regenerated`,
   * `destroyed` (with its `cause`), `expired`, `lost`, each with the
   * session's `handle` (never its id), `owner` and `ctx`. An event nobody
   * listens to costs nothing (see docs/audit.md).
   */
  on<E extends SessionEventName>(event: E, listener: (...args: SessionEventMap[E]) => void): this;
  off<E extends SessionEventName>(event: E, listener: (...args: SessionEventMap[E]) => void): this;
  /** The live sessions of `owner` (needs the `owner` option); see `PrefixedStore.listSessions`. */
  listSessions: PrefixedStore['listSessions'];
  /** Ends every session of `owner`, optionally except one; see `PrefixedStore.destroySessions`. */
  destroySessions: PrefixedStore['destroySessions'];
  /** Ends the session of `owner` that `listSessions` shows with `handle`; see `PrefixedStore.destroySession`. */
  destroySession: PrefixedStore['destroySession'];
  /**
   * Graceful shutdown: marks the coming store disconnect as intended, waits
   * for in-flight session writes (up to `timeout`), then closes the store.
   * Idempotent: every call returns the same promise.
   */
  close(options?: CloseOptions): Promise<void>;
}

function defaultErrorHandler(err: unknown, type: SessionErrorType): never {
  try {
    (err as Error).name = 'koa-generic-session ' + type + ' error';
  } catch {
    // a frozen error or a primitive: rethrow it as it is
  }
  throw err;
}

function defaultGenSid(this: SessionContext, length: number): string {
  return uid(length);
}

/** A usable session id: 1 to 256 printable ASCII characters. Anything else never reaches the store. */
export function isValidSessionId(sid: unknown): sid is string {
  if (typeof sid !== 'string' || sid.length === 0 || sid.length > 256) return false;
  for (let i = 0; i < sid.length; i++) {
    const c = sid.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** RFC 6265 path-match: `/api` matches `/api` and `/api/x`, not `/apix`. */
function pathMatches(path: string, cookiePath: string): boolean {
  if (cookiePath === '/' || path === cookiePath) return true;
  if (!path.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || path.charCodeAt(cookiePath.length) === 47;
}

/** One request's session state, kept on the context under a symbol. */
class RequestState implements VerifiedSignature {
  session: unknown = undefined;
  /** The id cookie's value and signature as verified on the way in (see SessionCookieReader). */
  signedValue: string | undefined = undefined;
  signature: string | undefined = undefined;
  signatureKey: string | undefined = undefined;
  resign = false;
  /** JSON of the session as loaded; '' for a new session. */
  originalJson = '';
  isNew = false;
  loaded = false;
  loading: Promise<void> | undefined = undefined;
  /** Defer mode: the app read or assigned `ctx.session`. */
  touched = false;
  /** Defer mode: `ctx.session` was assigned before the load finished. */
  assigned = false;
  /** `ctx.sessionSave`: true forces a save, false forbids it. */
  save: boolean | null = null;
  degraded = false;
  /** With the `owner` option: the owner the session is recorded under in the store. */
  owner: string | undefined = undefined;
  /** The middleware's own member of the stored session, as loaded or last written (see lib/lifetime.ts). */
  meta: SessionMeta | undefined = undefined;
  /** `hashIds: { migrate: true }` moved this session to its hashed key: its owner index entry is written on commit. */
  migrated = false;
  readonly ctx: SessionContext;
  readonly core: SessionCore;
  constructor(ctx: SessionContext, core: SessionCore) {
    this.ctx = ctx;
    this.core = core;
  }
}

type StatefulContext = SessionContext & { [STATE]?: RequestState };

/** One request's read or merge of a store key, while it runs (see SessionCore.#reading). */
interface StoreCall {
  readonly ctx: SessionContext;
  /** The store reported this call's value as invalid (its own `invalid` event). */
  refused: boolean;
}

/** Events that a store's own `invalid` event changes: each refusal is reported once, as `invalid`. */
const STORE_REPORTED: readonly SessionEventName[] = ['invalid', 'expired', 'lost'];

/** The request's session is no longer in the store (destroyed, expired, removed by a ttl <= 0). */
function forget(state: RequestState): void {
  state.isNew = true;
  state.originalJson = '';
  state.owner = undefined;
  state.meta = undefined;
  state.migrated = false;
}

/** Everything one `session(options)` call owns; the per-request flow lives here. */
class SessionCore {
  readonly options: ResolvedOptions;
  readonly adapter: StoreAdapter;
  readonly sessionStore: PrefixedStore;
  readonly storeKeys: SessionKeys;
  readonly watcher: StoreWatcher;
  readonly events: SessionEvents;
  /** Store key -> the requests reading or merging it now, so that a store's own `invalid` names its request and stays the only report of that refusal. */
  readonly #reading = new Map<string, StoreCall[]>();
  #detachInvalid: (() => void) | undefined;
  readonly #reader: SessionCookieReader;
  readonly #emptyJson: string;
  readonly #genSid: NonNullable<SessionOptions['genSid']>;
  readonly #errorHandler: NonNullable<SessionOptions['errorHandler']>;
  readonly #outage = new OutageLog();
  #inflight = 0;
  #drained: Array<() => void> = [];
  #closing: Promise<void> | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    const client = options.store ?? new MemoryStore();
    if (process.env.NODE_ENV === 'production' && client instanceof MemoryStore) {
      console.warn(MEMORY_STORE_WARNING);
    }
    this.adapter = new StoreAdapter(client, options.storeTimeout);
    this.adapter.onAnswer = () => this.#outage.recovered();
    if (options.owner !== undefined && !this.adapter.canIndexOwners) {
      throw new TypeError(
        'session() option "owner" needs a store that indexes sessions by owner (listOwned and destroyOwned methods): ' +
          `MemoryStore and RedisStore do, ${client.constructor?.name ?? 'this store'} does not`,
      );
    }
    this.storeKeys = new SessionKeys(options.prefix, options.hashIds);
    this.events = new SessionEvents((sid) => this.storeKeys.key(sid), options.handleKey);
    this.sessionStore = new PrefixedStore(this.adapter, options, this.storeKeys, this.events);
    this.#forwardStoreInvalid(client);
    this.watcher = new StoreWatcher(this.adapter, options.reconnectTimeout);
    this.watcher.on('status', (status: StoreStatus, previous: StoreStatus) => {
      // close() ends in 'closed', never 'available': a shutdown is not a store that serves again
      if (status === 'available') this.#outage.recovered();
      this.events.emit('status', status, previous);
    });
    this.#reader = new SessionCookieReader(options.key, options.cookie.signed !== false);
    this.#emptyJson = JSON.stringify(this.newSession());
    this.#genSid = options.genSid ?? defaultGenSid;
    this.#errorHandler = options.errorHandler ?? defaultErrorHandler;
  }

  newSession(): Session {
    return { cookie: { ...this.options.cookie } };
  }

  /**
   * What is stored and what sets the cookie: the session, with the configured cookie options if it has
   * none, and the middleware's own member (`meta`) when it has one. The app's object gains neither.
   */
  stored(session: Session, meta?: SessionMeta): Session {
    return withMeta(withCookie(session, this.options.cookie), meta);
  }

  /** The one clock the session lifetimes are measured with. */
  now(): number {
    return Date.now();
  }

  /* ---- per-request flow ---- */

  async run(ctx: StatefulContext, next: Next): Promise<void> {
    if (ctx[STATE] !== undefined || Object.prototype.hasOwnProperty.call(ctx, 'session')) {
      await next();
      return;
    }
    ctx.sessionStore = this.sessionStore;
    if (!pathMatches(ctx.path, this.options.cookie.path ?? '/')) {
      await next();
      return;
    }
    installAccessors(ctx);
    const state = new RequestState(ctx, this);
    ctx[STATE] = state;
    const defer = this.options.defer;
    if (!defer) {
      try {
        await this.load(state);
      } catch (err) {
        if (OutageLog.isOutage(err)) this.#outage.failed(ctx.app, err);
        throw err;
      }
    }

    let firstError: unknown;
    let failed = false;
    try {
      await next();
    } catch (err) {
      firstError = err;
      failed = true;
    }
    try {
      if (defer) await this.finishDefer(state);
      else await this.commit(state);
    } catch (err) {
      debug('saving the session failed: %s', (err as Error)?.message);
      if (failed) {
        if (OutageLog.isOutage(err)) this.#outage.failed(ctx.app, err);
        ctx.app.emit('error', err, ctx);
      } else {
        firstError = err;
        failed = true;
      }
    }
    if (failed) {
      if (OutageLog.isOutage(firstError)) this.#outage.failed(ctx.app, firstError);
      throw firstError;
    }
  }

  async load(state: RequestState): Promise<void> {
    const ctx = state.ctx;
    if (this.watcher.status !== 'available') {
      try {
        await this.watcher.wait();
      } catch (err) {
        if (!this.options.degraded) throw err;
        debug('store unavailable: serving a degraded session');
        state.degraded = true;
        ctx.sessionDegraded = true;
        if (!state.assigned) state.session = this.newSession();
        state.isNew = true;
        state.loaded = true;
        return;
      }
    }
    const sid: unknown = ctx.sessionId || this.readSid(ctx, state);
    let session: Session | null = null;
    let json = '';
    // with prefix '', ids such as "constructor" or "toString" make a store that indexes a plain
    // object answer a member of Object.prototype: a function the adapter would run as a thunk
    // (a request that never ends) or one that throws (a 500). Such keys never reach the store.
    if (isValidSessionId(sid) && !(this.options.prefix + sid in Object.prototype)) {
      session = await this.fetch(ctx, sid, state);
      if (session !== null && hasExpired(session)) {
        // a store without ttl, or one whose clock runs behind: the cookie's end is the session's end
        debug('stored session past its cookie.expires: destroying it');
        const owner = this.options.owner === undefined ? undefined : this.ownerOf(session);
        await this.destroy(ctx, sid, owner);
        this.events.expired(ctx, sid, owner, 'expires');
        session = null;
      }
      if (session !== null) {
        state.meta = takeMeta(session);
        // a session stored without cookie options (another library, an old schema) is compared and
        // saved with the configured ones, which the app's object does not gain (see stored())
        json = this.serialize(this.stored(session, state.meta), ctx, sid);
        if (json === '') session = null;
      }
      if (session !== null && (absoluteRemaining(state.meta, this.now(), this.options.absoluteTimeout) ?? 1) <= 0) {
        debug('session past its absolute timeout: destroying it');
        const owner = this.options.owner === undefined ? undefined : this.ownerOf(session);
        await this.destroy(ctx, sid, owner);
        this.events.expired(ctx, sid, owner, 'absoluteTimeout');
        session = null;
      }
      if (session !== null && this.options.valid !== undefined && !this.options.valid(ctx, session)) {
        debug('session refused by valid()');
        session = null;
      }
    }
    if (session !== null) {
      ctx.sessionId = sid as string;
      // a session just moved to its hashed key is not in the owner index under that key yet: the
      // commit records it there (as a new entry), whatever the request does
      if (this.options.owner !== undefined) state.owner = state.migrated ? undefined : this.ownerOf(session);
      if (state.resign) this.resign(ctx, session, state);
      state.originalJson = json;
      state.isNew = false;
    } else {
      session = this.newSession();
      ctx.sessionId = await this.newSid(ctx);
      // a cookie that named no usable session is cleared (it is replaced if this one is saved)
      if (sid) this.resetSid(ctx);
      forget(state);
    }
    if (!state.assigned) state.session = session;
    state.loaded = true;
  }

  /** The stored session `sid` names, or null: missing (reported as `expired`), refused (`invalid`) or unreadable. */
  async fetch(ctx: SessionContext, sid: string, state?: RequestState): Promise<Session | null> {
    const key = this.storeKeys.key(sid);
    const call = this.#track(key, ctx);
    let data: unknown;
    try {
      data = this.adapter.get(key);
      if (data instanceof Promise) data = await data;
      if ((data === null || data === undefined) && this.storeKeys.migrate) {
        data = await this.migrate(sid);
        if (state !== undefined && data !== null && data !== undefined) state.migrated = true;
      }
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code !== 'ENOENT') {
        debug('get session error: %s', (err as Error)?.message);
        this.#errorHandler(err, 'get', ctx);
        return null;
      }
      data = null;
    } finally {
      if (call !== undefined) this.#untrack(key, call);
    }
    if (data === null || data === undefined) {
      // the store answers no session both when it refused the value (it said so itself) and when it has none
      if (call?.refused !== true) this.events.expired(ctx, sid, undefined, 'missing');
      return null;
    }
    const session = toSession(data);
    if (session === null) {
      debug('stored session refused: not a plain object, or a polluting key');
      this.events.invalid('stored data is not a plain session object, or it has a prototype-polluting key', 'middleware', key, ctx);
      return null;
    }
    return session;
  }

  /**
   * `hashIds: { migrate: true }`, the hashed key missed: the session may still be under its raw key.
   * A store with move() moves it atomically. Any other store gets it written under the hashed key
   * first and deleted from the raw one after, so a parallel request always finds one of them: one
   * that finds neither reads the hashed key again (the raw one is deleted only once that is written).
   */
  async migrate(sid: string): Promise<unknown> {
    const from = this.storeKeys.raw(sid);
    const to = this.storeKeys.key(sid);
    if (this.adapter.canMove) return this.adapter.move(from, to);
    const data = await this.adapter.get(from);
    if (data === null || data === undefined) return this.adapter.get(to);
    const session = toSession(data);
    // refused by the caller (with the `invalid` event), and left where it is
    if (session === null) return data;
    const meta = takeMeta({ ...session });
    const ttl = capTtl(sessionTtl(this.options.ttl, this.stored(session)), absoluteRemaining(meta, this.now(), this.options.absoluteTimeout));
    if (ttl !== undefined && ttl <= 0) return null;
    await this.adapter.set(to, session, ttl);
    await this.adapter.destroy(from);
    return session;
  }

  /**
   * The session's JSON as loaded, or '' (with the `invalid` event) when a store handed back
   * something JSON.stringify throws on: a cycle, a BigInt, a throwing getter or toJSON, or
   * nesting deeper than the stack. Otherwise that user would get a 500 on every request.
   */
  serialize(session: Session, ctx: SessionContext, sid: string): string {
    try {
      return JSON.stringify(session);
    } catch (err) {
      debug('stored session refused: %s', (err as Error)?.message);
      this.events.invalid('stored session cannot be serialized', 'middleware', this.storeKeys.key(sid), ctx);
      return '';
    }
  }

  async finishDefer(state: RequestState): Promise<void> {
    if (!state.touched) return;
    const ctx = state.ctx;
    if (state.loading !== undefined && !state.loaded) {
      // the app asked for the session and saw any load error itself
      try {
        await state.loading;
      } catch {
        return;
      }
    }
    if (
      this.options.owner === undefined &&
      !state.loaded &&
      state.loading === undefined &&
      (state.session === null || state.session === undefined)
    ) {
      // `ctx.session = null` without a read: destroy what the cookie names, no load needed
      const sid: unknown = ctx.sessionId || this.readSid(ctx, state);
      if (!isValidSessionId(sid) || state.save === false) return;
      ctx.sessionId = sid;
      this.resetSid(ctx);
      // the store is not read: the cookie's session may already have been gone
      if (await this.destroy(ctx, sid)) this.events.destroyed(ctx, sid, undefined, 'logout');
      return;
    }
    if (!state.loaded) await this.ensureLoaded(state);
    await this.commit(state);
  }

  ensureLoaded(state: RequestState): Promise<void> {
    if (state.loaded) return Promise.resolve();
    return (state.loading ??= this.load(state));
  }

  async commit(state: RequestState): Promise<void> {
    if (state.degraded || state.save === false) return;
    const ctx = state.ctx;
    const session = state.session;
    if (session === null || session === undefined) {
      if (!state.isNew && ctx.sessionId) {
        debug('session set to null: destroying it');
        const sid = ctx.sessionId;
        const owner = state.owner;
        this.resetSid(ctx);
        const destroyed = await this.destroy(ctx, sid, owner);
        forget(state);
        if (destroyed) this.events.destroyed(ctx, sid, owner, 'logout');
      }
      return;
    }
    if (typeof session !== 'object' || Array.isArray(session)) {
      throw new TypeError(
        `ctx.session must be an object, or null to destroy the session; got ${Array.isArray(session) ? 'an array' : typeof session}`,
      );
    }
    if (state.save === true) return this.save(state, session as Session);
    const stored = this.stored(session as Session, state.meta);
    const json = JSON.stringify(stored);
    if (state.isNew && !this.options.allowEmpty && stored === session && json === this.#emptyJson) return;
    if (json === state.originalJson && !(state.migrated && this.options.owner !== undefined)) {
      const options = this.options;
      if (!options.rolling) return;
      if (options.renewAfter !== undefined) {
        // the renewal is a write of the session with a new `renewedAt`: GET answers only the value, so
        // the time of the last extension has to be in it for the next request to know it for free
        const renewedAt = state.meta?.renewedAt;
        if (renewedAt !== undefined && this.now() - renewedAt < options.renewAfter) return;
        return this.save(state, session as Session, json);
      }
      // a session stored before absoluteTimeout was on gets its start time on this extension,
      // which is then a write: a touch cannot stamp it, and rolling would keep it alive for ever
      const unstamped = options.absoluteTimeout !== undefined && state.meta?.createdAt === undefined;
      if (this.adapter.canTouch && !unstamped) return this.touch(state, session as Session);
    }
    return this.save(state, session as Session, json);
  }

  /** `json`: the session's JSON as commit() saw it, reused when nothing below can change the session. */
  async save(state: RequestState, session: Session, json?: string): Promise<void> {
    const ctx = state.ctx;
    const sid = ctx.sessionId as string;
    const cookie: unknown = session.cookie;
    const legacyMaxAge = isPlainObject(cookie) && Object.prototype.hasOwnProperty.call(cookie, 'maxage');
    if (this.options.beforeSave !== undefined || legacyMaxAge) {
      json = undefined;
      // koa-generic-session renames the app's own `maxage` in place too
      if (legacyMaxAge) compatMaxAge(cookie as SessionCookie);
      this.options.beforeSave?.(ctx, session);
    }
    const now = this.now();
    const meta = metaForWrite(state.meta, now, this.options.absoluteTimeout, this.options.renewAfter);
    if (meta !== state.meta) json = undefined;
    const withOptions = this.stored(session);
    const stored = withMeta(withOptions, meta);
    this.#inflight++;
    try {
      // before anything reaches the store: a cookie that cannot be signed would leave the write an orphan
      this.#assertCanSign(ctx, stored);
      if (this.watcher.status !== 'available') await this.watcher.wait();
      const ttl = capTtl(sessionTtl(this.options.ttl, withOptions), absoluteRemaining(meta, now, this.options.absoluteTimeout));
      const key = this.storeKeys.key(sid);
      if (ttl !== undefined && ttl <= 0) {
        debug('ttl %d: removing the session instead of saving it', ttl);
        const previous = state.owner;
        await this.adapter.destroy(key, previous === undefined ? undefined : { owner: previous });
        this.resetSid(ctx);
        const existed = !state.isNew;
        forget(state);
        if (existed) this.events.destroyed(ctx, sid, previous, this.#ttlCause(meta, now));
        return;
      }
      const owner = this.ownerChange(state, session);
      if (owner?.owner !== undefined) this.describeOwner(ctx, session, owner);
      json ??= JSON.stringify(stored);
      const created = state.isNew;
      if (this.options.merge && this.adapter.canMerge && !state.isNew && state.originalJson !== '') {
        const patch = sessionChange(state.originalJson, stored, state.save === true, json);
        const call = this.#track(key, ctx);
        let merged: boolean;
        try {
          merged = (await this.adapter.merge(key, patch, ttl, owner)) !== false;
        } finally {
          if (call !== undefined) this.#untrack(key, call);
        }
        if (!merged) {
          // destroyed (log out everywhere, another request) or expired since this request loaded it
          debug('session gone before the merge: not resurrected');
          const previous = state.owner;
          this.resetSid(ctx);
          forget(state);
          if (call?.refused !== true) this.events.lost(ctx, sid, previous);
          return;
        }
      } else {
        await this.adapter.set(key, stored, ttl, owner);
      }
      if (owner !== undefined) state.owner = owner.owner;
      state.migrated = false;
      if (created) this.events.created(ctx, sid, state.owner);
      // sessions the owner's limit ended to make room for this one
      for (const ended of owner?.ended ?? []) this.events.destroyedKey(ctx, ended, owner!.owner, 'limit');
      this.writeSid(ctx, sid, stored, state);
      state.isNew = false;
      state.originalJson = json;
      state.meta = meta;
    } catch (err) {
      debug('set session error: %s', (err as Error)?.message);
      this.#errorHandler(err, 'set', ctx);
    } finally {
      this.#settle();
    }
  }

  /** `rolling` with an unchanged session: extend the ttl and the cookie, without rewriting the value. */
  async touch(state: RequestState, session: Session): Promise<void> {
    const ctx = state.ctx;
    const sid = ctx.sessionId as string;
    this.#inflight++;
    try {
      const stored = this.stored(session);
      this.#assertCanSign(ctx, stored);
      if (this.watcher.status !== 'available') await this.watcher.wait();
      const remaining = absoluteRemaining(state.meta, this.now(), this.options.absoluteTimeout);
      const ttl = capTtl(sessionTtl(this.options.ttl, stored), remaining);
      const owner: OwnerChange | undefined = state.owner === undefined ? undefined : { owner: state.owner, previous: state.owner };
      if (ttl !== undefined && ttl <= 0) {
        await this.adapter.destroy(this.storeKeys.key(sid), owner);
        this.resetSid(ctx);
        this.events.destroyed(ctx, sid, state.owner, this.#ttlCause(state.meta, this.now()));
        return;
      }
      if (owner !== undefined) this.describeOwner(ctx, session, owner);
      await this.adapter.touch(this.storeKeys.key(sid), ttl, owner);
      this.writeSid(ctx, sid, stored, state);
    } catch (err) {
      this.#errorHandler(err, 'set', ctx);
    } finally {
      this.#settle();
    }
  }

  /** Resolves true once the store destroyed it, false when the error handler took a failure. */
  async destroy(ctx: SessionContext, sid: string, owner?: string): Promise<boolean> {
    this.#inflight++;
    try {
      if (this.watcher.status !== 'available') await this.watcher.wait();
      const change = owner === undefined ? undefined : { owner };
      await this.adapter.destroy(this.storeKeys.key(sid), change);
      // a session not migrated yet is still under its raw key
      if (this.storeKeys.migrate) await this.adapter.destroy(this.storeKeys.raw(sid), change);
      return true;
    } catch (err) {
      debug('destroy session error: %s', (err as Error)?.message);
      this.#errorHandler(err, 'destroy', ctx);
      return false;
    } finally {
      this.#settle();
    }
  }

  async regenerate(state: RequestState): Promise<Session> {
    const ctx = state.ctx;
    await this.ensureLoaded(state);
    const previous = !state.isNew && ctx.sessionId ? ctx.sessionId : undefined;
    const owner = state.owner;
    if (previous !== undefined) {
      debug('regenerating: destroying the previous session');
      await this.destroy(ctx, previous, owner);
    }
    forget(state);
    const session = this.newSession();
    state.session = session;
    state.assigned = false;
    const sid = await this.newSid(ctx);
    ctx.sessionId = sid;
    this.resetSid(ctx);
    this.events.regenerated(ctx, sid, previous, owner);
    return session;
  }

  async saveNow(state: RequestState): Promise<void> {
    await this.ensureLoaded(state);
    await this.commit(state);
  }

  /* ---- owner index ---- */

  ownerOf(session: Session): string | undefined {
    const owner: unknown = (this.options.owner as NonNullable<ResolvedOptions['owner']>)(session);
    if (owner === undefined || owner === null) return undefined;
    if (typeof owner !== 'string' || owner === '') {
      throw new TypeError(
        `the owner option must return a non-empty string, null or undefined; got ${typeof owner === 'string' ? 'an empty string' : typeof owner}`,
      );
    }
    return owner;
  }

  /** What a save tells the store about owners; undefined (no bookkeeping) when neither side has one. */
  ownerChange(state: RequestState, session: Session): OwnerChange | undefined {
    if (this.options.owner === undefined) return undefined;
    const owner = this.ownerOf(session);
    return owner === undefined && state.owner === undefined ? undefined : { owner, previous: state.owner };
  }

  /**
   * Adds what rides with an owner's write: the device info (`describe`), which
   * never fails the save (see SessionDescribeError), and the owner's limit.
   */
  describeOwner(ctx: SessionContext, session: Session, change: OwnerChange): void {
    if (this.options.maxSessionsPerOwner !== undefined) change.limit = this.options.maxSessionsPerOwner;
    if (this.options.describe === undefined) return;
    const info = deviceInfo(this.options.describe, ctx, session);
    if (typeof info === 'string') change.info = info;
    else ctx.app.emit('error', info, ctx);
  }

  /* ---- session id transport ---- */

  readSid(ctx: SessionContext, state?: RequestState): unknown {
    const idStore = this.options.sessionIdStore;
    return idStore === undefined ? this.#reader.read(ctx, state) : idStore.get.call(ctx);
  }

  writeSid(ctx: SessionContext, sid: string, session: Session, state?: RequestState): void {
    const idStore = this.options.sessionIdStore;
    if (idStore !== undefined) {
      idStore.set.call(ctx, sid, session);
      return;
    }
    // koa-generic-session meant this with its `this.writeable` typo: once
    // headers are out, a cookie can no longer be set (setHeader would throw)
    if (ctx.headerSent) return;
    const options = cookieSetOptions(session.cookie) as NonNullable<Parameters<SessionContext['cookies']['set']>[2]>;
    if (options.signed === true) {
      assertKeys(ctx);
      // the cookie came in with this signature: writing it back needs no HMAC
      let sig = state === undefined ? undefined : this.#reader.knownSignature(ctx, sid, state);
      sig ??= this.#reader.sign(ctx, sid);
      if (sig !== undefined && setSessionCookie(ctx, this.options.key, sid, sig, options)) return;
    } else if (options.signed === false && setSessionCookie(ctx, this.options.key, sid, undefined, options)) {
      // (without a `signed` option cookies signs whenever the app has keys: it decides that itself)
      return;
    }
    ctx.cookies.set(this.options.key, sid, options);
  }

  /**
   * The cookie came signed with an older key: its `.sig` is written again,
   * under the current key, with the attributes the session cookie is written
   * with, so both live and die together.
   */
  resign(ctx: SessionContext, session: Session, state: RequestState): void {
    state.resign = false;
    if (ctx.headerSent || state.signature === undefined) return;
    const name = this.options.key + '.sig';
    const options = cookieSetOptions(this.stored(session).cookie) as NonNullable<Parameters<SessionContext['cookies']['set']>[2]>;
    try {
      ctx.cookies.set(name, state.signature, { ...options, signed: false });
    } catch (err) {
      // options cookies refuses on this request (secure over http): re-sign as cookies itself does
      debug('re-signing with the session cookie options failed: %s', (err as Error)?.message);
      ctx.cookies.set(name, state.signature, { signed: false });
    }
  }

  resetSid(ctx: SessionContext): void {
    const idStore = this.options.sessionIdStore;
    if (idStore !== undefined) {
      idStore.reset.call(ctx);
      return;
    }
    if (ctx.headerSent) return;
    // cookies signs the cleared cookie whenever app.keys is set: unusable keys get our error, not a TypeError
    checkKeys(ctx.app.keys, false);
    const { path, domain } = this.options.cookie;
    ctx.cookies.set(this.options.key, null, { expires: new Date(0), path, domain });
  }

  async newSid(ctx: SessionContext): Promise<string> {
    let sid: unknown = this.#genSid.call(ctx, 24);
    if (typeof sid !== 'string') sid = await sid;
    if (!isValidSessionId(sid)) {
      throw new TypeError(
        `genSid must return (or resolve to) 1 to 256 printable ASCII characters, got ${typeof sid === 'string' ? JSON.stringify(sid.slice(0, 40)) : typeof sid}`,
      );
    }
    return sid;
  }

  /** Throws the keys error `writeSid` would throw for this cookie (`stored()`'s), before the store is written. */
  #assertCanSign(ctx: SessionContext, stored: Session): void {
    if (this.options.sessionIdStore !== undefined || ctx.headerSent) return;
    const signed = isPlainObject(stored.cookie) ? stored.cookie.signed : this.options.cookie.signed;
    // signed: false never signs; without a `signed` option cookies signs only when app.keys is set
    if (signed !== false) checkKeys(ctx.app.keys, signed !== undefined && signed !== null);
  }

  /* ---- events ---- */

  /** A write's ttl came out at or below 0: the absolute end passed, or the ttl (option or cookie) ran out. */
  #ttlCause(meta: SessionMeta | undefined, now: number): 'absoluteTimeout' | 'ttl' {
    return (absoluteRemaining(meta, now, this.options.absoluteTimeout) ?? 1) <= 0 ? 'absoluteTimeout' : 'ttl';
  }

  /**
   * Forwards the store's own `invalid` events (RedisStore's: { key, reason })
   * to the middleware's listeners, with the request that read the value. The
   * store is subscribed to only once someone listens to an event it changes,
   * so many middlewares on one store add no listeners to it for nothing.
   */
  #forwardStoreInvalid(client: SessionStore): void {
    const store = client as unknown as Partial<Pick<EventEmitter, 'on' | 'off'>>;
    if (typeof store.on !== 'function' || typeof store.off !== 'function') return;
    const forward = (info: unknown): void => {
      const { key, reason } = (info ?? {}) as { key?: unknown; reason?: unknown };
      const storeKey = typeof key === 'string' ? key : undefined;
      // another middleware's session on a shared store
      if (storeKey !== undefined && !storeKey.startsWith(this.options.prefix)) return;
      const call = storeKey === undefined ? undefined : this.#reading.get(storeKey)?.find((each) => !each.refused);
      if (call !== undefined) call.refused = true;
      this.events.invalid(typeof reason === 'string' ? reason : 'refused by the store', 'store', storeKey, call?.ctx);
    };
    const attach = (event: string | symbol): void => {
      if (this.#detachInvalid !== undefined || !STORE_REPORTED.includes(event as SessionEventName)) return;
      store.on!('invalid', forward);
      this.#detachInvalid = () => store.off!('invalid', forward);
      this.events.off('newListener', attach);
    };
    this.events.on('newListener', attach);
  }

  /** Records a read or merge of `key` while someone listens to what a store refusal changes; else nothing. */
  #track(key: string, ctx: SessionContext): StoreCall | undefined {
    if (this.#detachInvalid === undefined) return undefined;
    const call: StoreCall = { ctx, refused: false };
    const calls = this.#reading.get(key);
    if (calls === undefined) this.#reading.set(key, [call]);
    else calls.push(call);
    return call;
  }

  #untrack(key: string, call: StoreCall): void {
    const calls = this.#reading.get(key);
    if (calls === undefined) return;
    const rest = calls.filter((each) => each !== call);
    if (rest.length === 0) this.#reading.delete(key);
    else this.#reading.set(key, rest);
  }

  /* ---- shutdown ---- */

  #settle(): void {
    if (--this.#inflight === 0 && this.#drained.length > 0) {
      const waiters = this.#drained;
      this.#drained = [];
      for (const resolve of waiters) resolve();
    }
  }

  #drain(timeout: number): Promise<boolean> {
    if (this.#inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      timer.unref();
      this.#drained.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(options: CloseOptions = {}): Promise<void> {
    const timeout = options.timeout ?? 10_000;
    if (typeof timeout !== 'number' || !(timeout >= 0)) {
      throw new TypeError(`close() option "timeout" must be a number of ms, 0 or more, got ${String(timeout)}`);
    }
    return (this.#closing ??= (async () => {
      this.watcher.close();
      const drained = await this.#drain(timeout);
      if (!drained) debug('close(): %d session writes still running after %dms', this.#inflight, timeout);
      if (options.closeStore !== false) await this.adapter.shutdown();
      this.#detachInvalid?.();
    })());
  }
}

/* ---- the context API, defined once per app.context ---- */

const installed = new WeakSet<object>();

function stateOf(ctx: object): RequestState | undefined {
  return (ctx as StatefulContext)[STATE];
}

function noSession(name: string): Promise<never> {
  return Promise.reject(
    new TypeError(`ctx.${name}() needs the session middleware to run for this request (is the path outside cookie.path?)`),
  );
}

function installAccessors(ctx: SessionContext): void {
  const proto: object | null = Object.getPrototypeOf(ctx);
  const target = proto !== null && proto !== Object.prototype ? proto : ctx;
  if (installed.has(target)) return;
  installed.add(target);
  answerOutages503(target);
  Object.defineProperties(target, {
    session: {
      configurable: true,
      get(this: SessionContext) {
        const state = stateOf(this);
        if (state === undefined) return undefined;
        if (!state.core.options.defer) return state.session;
        state.touched = true;
        if (state.loaded) return Promise.resolve(state.session);
        return state.core.ensureLoaded(state).then(() => state.session);
      },
      set(this: SessionContext, value: unknown) {
        const state = stateOf(this);
        if (state === undefined) {
          Object.defineProperty(this, 'session', { value, writable: true, configurable: true, enumerable: true });
          return;
        }
        state.session = value;
        state.touched = true;
        if (!state.loaded) state.assigned = true;
      },
    },
    sessionSave: {
      configurable: true,
      get(this: SessionContext) {
        return stateOf(this)?.save;
      },
      set(this: SessionContext, value: boolean | null) {
        const state = stateOf(this);
        if (state !== undefined) state.save = value;
      },
    },
    regenerateSession: {
      configurable: true,
      writable: true,
      value(this: SessionContext): Promise<Session> {
        const state = stateOf(this);
        return state === undefined ? noSession('regenerateSession') : state.core.regenerate(state);
      },
    },
    saveSession: {
      configurable: true,
      writable: true,
      value(this: SessionContext): Promise<void> {
        const state = stateOf(this);
        return state === undefined ? noSession('saveSession') : state.core.saveNow(state);
      },
    },
  });
}

/**
 * Creates the session middleware (koa v2/v3 calling convention).
 * @example app.use(createSessionMiddleware({ store: new RedisStore() }))
 */
export function createSessionMiddleware(options?: SessionOptions): SessionMiddleware {
  const core = new SessionCore(resolveOptions(options));
  const middleware = function session(ctx: SessionContext, next: Next): Promise<void> {
    return core.run(ctx as StatefulContext, next);
  } as SessionMiddleware;
  Object.defineProperties(middleware, {
    status: { get: () => core.watcher.status, enumerable: true },
    sessionStore: { value: core.sessionStore, enumerable: true },
    on: {
      value(event: string, listener: (...args: never[]) => void) {
        core.events.on(event, listener as (...args: unknown[]) => void);
        return middleware;
      },
    },
    off: {
      value(event: string, listener: (...args: never[]) => void) {
        core.events.off(event, listener as (...args: unknown[]) => void);
        return middleware;
      },
    },
    close: { value: (closeOptions?: CloseOptions) => core.close(closeOptions) },
    listSessions: { value: core.sessionStore.listSessions.bind(core.sessionStore) },
    destroySessions: { value: core.sessionStore.destroySessions.bind(core.sessionStore) },
    destroySession: { value: core.sessionStore.destroySession.bind(core.sessionStore) },
  });
  return middleware;
}
