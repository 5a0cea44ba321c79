import type { DeviceInfo, Session } from '../types.js';
import type { ResolvedOptions } from '../options.js';
import type { StoreAdapter } from './adapter.js';
import { sessionTtl, toSession } from '../session.js';
import { SessionKeys } from '../session-keys.js';
import { handleOf, type DestroyCause, type SessionEvents } from '../events.js';
import { parseDeviceInfo } from '../device.js';

/** One live session of an owner, as `listSessions()` shows it: never its id, which is a credential. */
export interface SessionInfo {
  /** An opaque handle for this session, the same in its events: an HMAC of its store key (see the `handleKey` option). */
  handle: string;
  /** True for the session named by `listSessions(owner, { current })`. */
  current: boolean;
  createdAt: Date;
  savedAt: Date;
  /**
   * The last write that recorded it: a save, or a `rolling` extension. A
   * request that only reads the session writes nothing, so it does not move.
   */
  lastSeenAt: Date;
  /** What the `describe` option returned at its last write, or null. */
  info: DeviceInfo | null;
  /** ms left before it expires, or null for no expiry. */
  ttl: number | null;
}

const HANDLE = /^[A-Za-z0-9_-]{22}$/;

function checkOwner(owner: unknown, method: string): asserts owner is string {
  if (typeof owner !== 'string' || owner === '') {
    throw new TypeError(`${method}(owner) takes the owner as a non-empty string, got ${typeof owner}`);
  }
}

/**
 * What apps see as `ctx.sessionStore`: koa-generic-session's store wrapper,
 * taking un-prefixed session ids and computing the ttl the way a save does.
 */
export class PrefixedStore {
  readonly client: StoreAdapter['client'];
  readonly options: { prefix: string; ttl: ResolvedOptions['ttl'] };
  readonly #adapter: StoreAdapter;
  /** Ids to store keys: prefixed, and hashed with `hashIds`. */
  readonly #keys: SessionKeys;
  readonly #handleKey: string | undefined;
  readonly #events: SessionEvents | undefined;

  constructor(
    adapter: StoreAdapter,
    options: ResolvedOptions,
    keys = new SessionKeys(options.prefix, options.hashIds),
    events?: SessionEvents,
  ) {
    this.#adapter = adapter;
    this.#handleKey = options.handleKey;
    this.#events = events;
    this.client = adapter.client;
    this.options = { prefix: options.prefix, ttl: options.ttl };
    this.#keys = keys;
  }

  /** The session of `sid`; with `hashIds: { migrate: true }` also one still under its raw key (it is not moved). */
  async get(sid: string): Promise<Session | null> {
    let data = await this.#adapter.get(this.#keys.key(sid));
    if ((data === null || data === undefined) && this.#keys.migrate) data = await this.#adapter.get(this.#keys.raw(sid));
    return toSession(data);
  }

  async set(sid: string, session: Session): Promise<void> {
    const ttl = sessionTtl(this.options.ttl, session);
    const key = this.#keys.key(sid);
    await (ttl !== undefined && ttl <= 0 ? this.#adapter.destroy(key) : this.#adapter.set(key, session, ttl));
  }

  async destroy(sid: string): Promise<void> {
    await this.#adapter.destroy(this.#keys.key(sid));
    if (this.#keys.migrate) await this.#adapter.destroy(this.#keys.raw(sid));
  }

  /**
   * The live sessions of `owner` (the `owner` option's value), newest save
   * first. Pass `{ current: ctx.sessionId }` to flag the caller's own.
   */
  async listSessions(owner: string, options: { current?: string | null } = {}): Promise<SessionInfo[]> {
    checkOwner(owner, 'listSessions');
    this.#assertIndexed();
    const prefix = this.options.prefix;
    const current = options.current ? this.#keys.key(options.current) : undefined;
    const now = Date.now();
    return (await this.#adapter.listOwned(owner))
      .filter((row) => row.key.startsWith(prefix))
      .map((row) => ({
        handle: handleOf(row.key, this.#handleKey),
        current: row.key === current,
        createdAt: new Date(row.createdAt),
        savedAt: new Date(row.savedAt),
        lastSeenAt: new Date(row.lastSeenAt ?? row.savedAt),
        info: parseDeviceInfo(row.info),
        ttl: row.expiresAt === null ? null : Math.max(0, row.expiresAt - now),
      }))
      .sort((a, b) => b.savedAt.getTime() - a.savedAt.getTime());
  }

  /**
   * Ends every session of `owner` (log out everywhere), except the one whose
   * id is `except` (usually `ctx.sessionId`); resolves how many it ended.
   * A request of one of them that is in flight cannot bring it back: its
   * save finds the session gone (stores with `merge()`).
   */
  async destroySessions(owner: string, options: { except?: string | null } = {}): Promise<number> {
    checkOwner(owner, 'destroySessions');
    this.#assertIndexed();
    const except = options.except ? this.#keys.key(options.except) : undefined;
    // the index names no ended key: with a `destroyed` listener, the sessions are listed first (one more round trip)
    const listed = this.#events?.listenerCount('destroyed') ? await this.#adapter.listOwned(owner) : undefined;
    const ended = await this.#adapter.destroyOwned(owner, except);
    if (listed !== undefined) this.#ended(listed.map((row) => row.key).filter((key) => key !== except), owner, 'destroySessions');
    return ended;
  }

  /** Reports sessions the owner API ended (`destroyed` with `cause`); own keys only, on a shared store. */
  #ended(keys: readonly string[], owner: string, cause: DestroyCause): void {
    for (const key of keys) {
      if (key.startsWith(this.options.prefix)) this.#events?.destroyedKey(undefined, key, owner, cause);
    }
  }

  /**
   * Ends one session of `owner`: the one `listSessions(owner)` shows with
   * `handle` (sign out that phone). Resolves true when it was live and is
   * now gone; false for a handle that names no live session of this owner,
   * so a handle of another owner's session ends nothing. As with
   * `destroySessions`, a request of that session already in flight cannot
   * bring it back.
   */
  async destroySession(owner: string, handle: string): Promise<boolean> {
    checkOwner(owner, 'destroySession');
    if (typeof handle !== 'string' || !HANDLE.test(handle)) {
      throw new TypeError(`destroySession(owner, handle) takes a handle as listSessions() gives it (22 URL-safe characters), got ${typeof handle === 'string' ? JSON.stringify(handle.slice(0, 40)) : typeof handle}`);
    }
    this.#assertIndexed();
    const prefix = this.options.prefix;
    const row = (await this.#adapter.listOwned(owner)).find((r) => r.key.startsWith(prefix) && handleOf(r.key, this.#handleKey) === handle);
    if (row === undefined) return false;
    // the same write a logout makes: the session and its owner entry go together
    await this.#adapter.destroy(row.key, { owner });
    this.#ended([row.key], owner, 'destroySession');
    return true;
  }

  #assertIndexed(): void {
    if (!this.#adapter.canIndexOwners) {
      throw new TypeError('listing or destroying sessions by owner needs the owner option and a store with listOwned and destroyOwned (MemoryStore, RedisStore)');
    }
  }
}
