import type Koa from 'koa';

/** Any koa-generic-session store (see the package's SessionStore). */
interface AnyStore {
  get(key: string): unknown;
  set(key: string, session: object, ttl?: number): unknown;
  destroy(key: string): unknown;
}

/** One live session of a user, as the package's `listSessions()` gives it: a handle, never the session id. */
export interface OwnedSessionInfo {
  handle: string;
  current: boolean;
  createdAt: Date;
  savedAt: Date;
  /** The last write that recorded it. */
  lastSeenAt: Date;
  /** What the demo's describe() recorded: `{ userAgent, ip }`. */
  info: Record<string, string | number | boolean | null> | null;
  /** ms left, or null for no expiry. */
  ttl: number | null;
}

export interface DemoOptions {
  /** Use RedisStore on this URL instead of MemoryStore. */
  redisUrl?: string;
  /** Use this store instead (tests). */
  store?: AnyStore;
  /** Cookie signing keys. Default: SESSION_KEYS (comma separated), else random per start. */
  keys?: string[];
}

export interface Demo {
  readonly app: Koa;
  /** What the status line shows, e.g. 'MemoryStore (in this process)'. */
  readonly storeName: string;
  /**
   * Both session middlewares (defer-mode first), for `shutdown()` / `closeOnSignal()`;
   * the second one's `listSessions()` / `destroySessions()` work when `ownerIndex` is true.
   */
  readonly sessions: ReadonlyArray<
    Koa.Middleware & {
      close(options?: { timeout?: number; closeStore?: boolean }): Promise<void>;
      listSessions(owner: string, options?: { current?: string | null }): Promise<OwnedSessionInfo[]>;
      destroySessions(owner: string, options?: { except?: string | null }): Promise<number>;
      destroySession(owner: string, handle: string): Promise<boolean>;
    }
  >;
  /** True when the store indexes sessions by owner, so the main middleware has `owner` and /devices works. */
  readonly ownerIndex: boolean;
  /** How many times the store's get() ran. */
  readonly storeReads: number;
  /** Waits for in-flight session writes, then closes the store once. Idempotent. */
  close(): Promise<void>;
}

export function createApp(options?: DemoOptions): Promise<Demo>;

/** "Firefox 128 on Windows" from a User-Agent header (a few well-known tokens). */
export function browserOf(userAgent: unknown): string;
