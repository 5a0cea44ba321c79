import type { ClusterNode, ClusterOptions, RedisOptions, SentinelAddress } from 'ioredis';
import type { Session } from '../types.js';
import type { RedisCacheOptions } from './redis-cache.js';
import type { RedisClient } from './redis-client.js';

/** Turns sessions into stored strings and back. Default: JSON, with `cookie.expires` revived as a Date. */
export interface RedisSerializer {
  stringify(session: Session): string;
  /** May throw or return anything: what is not a plain session object is reported as `invalid` and treated as no session. */
  parse(text: string): unknown;
}

/**
 * ioredis's connection options, taken at the top level as koa-redis took
 * them (`host`, `port`, `path`, `username`, `password`, `db`, `tls`,
 * `family`, `connectTimeout`, `keyPrefix`, ...). `commandTimeout` is
 * RedisStore's own (see below).
 */
export type TopLevelRedisOptions = Omit<RedisOptions, 'commandTimeout'>;

export interface RedisStoreOptions extends TopLevelRedisOptions {
  /**
   * An ioredis `Redis` or `Cluster` to use, as it is: the connection options
   * given beside it are ignored (with a warning), as koa-redis ignored them,
   * except `db`, which switches that client to the db as koa-redis did. With
   * `duplicate: true` the store opens its own connection instead. The store
   * leaves the client open on `quit()` unless `closeClient: true`. Its own
   * settings are kept: see docs/redis.md for the ones that avoid replayed commands.
   */
  client?: RedisClient;
  /**
   * With `client`: open a new connection with the client's settings and the
   * options given here (`client.duplicate(options)`), leaving the client
   * itself untouched. The store closes that connection on `quit()`. Default `false`.
   */
  duplicate?: boolean;
  /** Close the client on `quit()`. Default: `true` for a client the store created (or duplicated), `false` for `client`. */
  closeClient?: boolean;
  /**
   * `redis://[[user]:password@]host[:port][/db]` (or `rediss://`) for a
   * standalone server. What the URL states wins over the top-level options
   * and `redisOptions`, which fill in the rest (as in koa-redis and ioredis).
   */
  url?: string | URL;
  /**
   * ioredis options for the client the store creates (standalone or
   * Sentinel), the same as giving them at the top level; they override the
   * store's defaults. Giving one option both here and at the top level with
   * different values is an error.
   */
  redisOptions?: RedisOptions;
  /** Sentinel addresses; needs `name`. */
  sentinels?: Array<Partial<SentinelAddress>>;
  /** The master name the sentinels monitor. */
  name?: string;
  /** Cluster startup nodes: `[{ host, port }]` or `'host:port'` strings. */
  cluster?: ClusterNode[];
  /** koa-redis's way to ask for a Cluster: `isRedisCluster: true` with `nodes` (and `clusterOptions`), the same as `cluster: nodes`. */
  isRedisCluster?: boolean;
  /** The Cluster startup nodes with `isRedisCluster: true` (koa-redis). */
  nodes?: ClusterNode[];
  /** ioredis Cluster options; they override the store's defaults. Per-node ioredis options go in its `redisOptions`. */
  clusterOptions?: ClusterOptions;
  /** Default: JSON with `cookie.expires` revived as a Date. */
  serializer?: RedisSerializer;
  /** koa-redis's half of `serializer`: turns a session into the stored string. Default `JSON.stringify`. */
  serialize?: (session: Session) => string;
  /** koa-redis's other half of `serializer`: turns the stored string back into a session. Default `JSON.parse`. */
  unserialize?: (text: string) => unknown;
  /** @deprecated koa-redis's old name of `path` (a Unix socket). */
  socket?: string;
  /** @deprecated koa-redis's old name of `password`. */
  auth_pass?: string;
  /** @deprecated koa-redis's old name of `password`. */
  pass?: string;
  /**
   * How long one command may take, in ms. Default 2000. Past it the command
   * fails with `RedisStoreTimeoutError`; on a standalone or Sentinel client the
   * store then reports `disconnect` and reconnects (a server that stopped
   * answering keeps its TCP connection, so ioredis alone would wait forever).
   * This is RedisStore's own bound, not ioredis's `commandTimeout` (which can
   * go in `redisOptions`).
   */
  commandTimeout?: number;
  /**
   * Send each write as a tiny Lua script that refuses to `SET` once the
   * write's deadline (start + `commandTimeout`, in the server's clock) has
   * passed, so a write the request gave up on can never land later. Default
   * `true`. With `false`, writes are a plain `SET`, about 5 µs cheaper for the
   * server, and a server that stalls and resumes (SIGSTOP, a long fork, a
   * network partition) can still apply a write after its caller timed out.
   */
  guardWrites?: boolean;
  /**
   * Prefix of the owner index keys (the session middleware's `owner` option),
   * the only keys the store writes besides the sessions themselves: per owner
   * a sorted set `<ownerPrefix>{<owner>}` and a hash `<ownerPrefix>{<owner>}:meta`
   * (the braces are a Cluster hash tag, so both live in one slot). Must not
   * contain `{` or `}`. Default `'koa:owner:'`.
   */
  ownerPrefix?: string;
  /**
   * Keep the sessions this process reads and writes in memory, kept true by
   * Redis's invalidations (server-assisted client-side caching, Redis 7.0 or
   * later): a read of a session nothing else changed since costs no round
   * trip, a change one instead of two. `true` for the defaults, or
   * `{ max }`. Off by default, and on a Cluster (where it is ignored with a
   * warning). The store opens one more connection, for the invalidations;
   * with `client`, the store works on a duplicate of it. See docs/cache.md.
   */
  cache?: boolean | RedisCacheOptions;
}
