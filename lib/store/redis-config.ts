import { Redis } from 'ioredis';
import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import { closest, sameName } from '../near-miss.js';
import { warnOnce } from '../warnings.js';
import type { RedisClient } from './redis-client.js';
import type { RedisSerializer, RedisStoreOptions } from './redis-options.js';

/** Where the store's client comes from. */
export type ClientPlan =
  | { kind: 'given'; client: RedisClient; db?: number }
  | { kind: 'duplicate'; client: RedisClient; redisOptions?: RedisOptions; clusterOptions?: ClusterOptions }
  | { kind: 'cluster'; nodes: ClusterNode[]; clusterOptions: ClusterOptions }
  | { kind: 'standalone'; url?: string; redisOptions: RedisOptions };

export interface ResolvedRedisStoreOptions {
  plan: ClientPlan;
  closeClient: boolean;
  serializer: RedisSerializer | undefined;
  commandTimeout: number;
  guardWrites: boolean;
  ownerPrefix: string;
  /** The cache's `max`, or undefined for no cache. */
  cacheMax: number | undefined;
}

/**
 * Every option the installed ioredis declares: the compiler fails here when
 * an ioredis upgrade adds or removes one, so the list cannot drift.
 */
const TYPED_REDIS_OPTIONS: { [K in keyof RedisOptions]-?: true } = {
  port: true, host: true, family: true, path: true, Connector: true, retryStrategy: true, commandTimeout: true,
  blockingTimeout: true, blockingTimeoutGrace: true, socketTimeout: true, keepAlive: true, noDelay: true,
  connectionName: true, disableClientInfo: true, clientInfoTag: true, username: true, password: true, db: true,
  autoResubscribe: true, autoResendUnfulfilledCommands: true, reconnectOnError: true, readOnly: true,
  stringNumbers: true, connectTimeout: true, monitor: true, maxRetriesPerRequest: true, maxLoadingRetryTime: true,
  enableAutoPipelining: true, autoPipeliningIgnoredCommands: true, offlineQueue: true, commandQueue: true,
  enableOfflineQueue: true, enableReadyCheck: true, lazyConnect: true, scripts: true, keyPrefix: true,
  showFriendlyErrorStack: true, name: true, role: true, tls: true, sentinelUsername: true, sentinelPassword: true,
  sentinels: true, sentinelRetryStrategy: true, sentinelReconnectStrategy: true, preferredSlaves: true,
  disconnectTimeout: true, sentinelCommandTimeout: true, enableTLSForSentinelMode: true, sentinelTLS: true,
  natMap: true, updateSentinels: true, sentinelMaxConnections: true, failoverDetector: true,
};

/**
 * The ioredis options RedisStore takes at the top level: the typed ones, and
 * whatever the ioredis installed at run time has defaults for (a newer 5.x
 * than the one this package was built against).
 */
const REDIS_OPTION_NAMES: ReadonlySet<string> = new Set(
  [
    ...Object.keys(TYPED_REDIS_OPTIONS),
    ...Object.keys((Redis as unknown as { defaultOptions?: object }).defaultOptions ?? {}),
  ].filter((name) => name !== 'commandTimeout'),
);

const STORE_OPTION_NAMES = [
  'client', 'duplicate', 'closeClient', 'url', 'redisOptions', 'cluster', 'clusterOptions', 'serializer',
  'commandTimeout', 'guardWrites', 'ownerPrefix', 'cache',
];
const CACHE_DEFAULT_MAX = 10_000;
/** koa-redis's old names of `path` and `password`. */
const ALIASES = ['socket', 'auth_pass', 'pass'];
const KOA_REDIS_OPTION_NAMES = ['isRedisCluster', 'nodes', 'serialize', 'unserialize', ...ALIASES];

/** What users of other session stores pass, and where it goes here. */
const HINTS: Record<string, string> = {
  ttl: 'a session\'s ttl comes from the session middleware: session({ ttl }) or cookie.maxAge',
  prefix: 'the session key prefix is the session middleware\'s: session({ prefix }); ioredis\'s own is "keyPrefix"',
};

export const REDIS_OPTION_WARNING = 'KGS_REDIS_OPTION_IGNORED';

/** A warning about a RedisStore option, once per process per option and message. */
export function warnRedisOption(name: string, message: string): void {
  warnOnce(REDIS_OPTION_WARNING, name + '\u0000' + message, message);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${JSON.stringify(value)}` : `${typeof value} ${String(value)}`;
}

export function isClient(value: unknown): value is RedisClient {
  if (value === null || typeof value !== 'object') return false;
  const c = value as Record<string, unknown>;
  return ['get', 'set', 'del', 'pexpire', 'on', 'quit', 'disconnect'].every((m) => typeof c[m] === 'function');
}

/**
 * Reads RedisStore's options, koa-redis 4's among them, into where the
 * client comes from and the store's own settings. Bad options throw a
 * `TypeError` naming them; options koa-redis ignored are ignored with a
 * warning; an option nobody knows throws, since it most likely points the
 * sessions somewhere else than intended.
 */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`RedisStore options must be an object, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) checkKnown(name);
  const o = options as RedisStoreOptions & Record<string, unknown>;
  checkStoreOptions(o);
  const cluster = clusterNodes(o);
  const url = o.url === undefined ? undefined : String(o.url);
  const sources = (
    [
      ['client', o.client],
      ['url', url],
      ['sentinels', o.sentinels],
      [o.cluster !== undefined ? 'cluster' : 'isRedisCluster', cluster],
    ] as const
  )
    .filter(([, value]) => value !== undefined)
    .map(([name]) => name);
  if (sources.length > 1) {
    throw new TypeError(`RedisStore takes one of the options client, url, sentinels or cluster; got ${sources.join(' and ')}`);
  }
  const topLevel = redisOptionsOf(o);
  const db = topLevel.db;
  const closeClient = o.closeClient;
  const common = {
    serializer: serializerOf(o),
    commandTimeout: o.commandTimeout ?? 2000,
    guardWrites: o.guardWrites ?? true,
    ownerPrefix: o.ownerPrefix ?? 'koa:owner:',
    cacheMax: cacheMaxOf(o.cache),
  };

  if (o.client !== undefined) {
    const clusterClient = (o.client as { isCluster?: unknown }).isCluster === true;
    if (clusterClient) common.cacheMax = noClusterCache(common.cacheMax);
    if (clusterClient && db !== undefined && Number(db) !== 0) {
      throw new TypeError(`RedisStore option "db" (${String(db)}) cannot apply to a Cluster client: Redis Cluster has only db 0`);
    }
    if (o.duplicate === true) {
      if (clusterClient) {
        const ignored = connectionNames(o).filter((name) => name !== 'db');
        if (o.redisOptions !== undefined) ignored.push('redisOptions');
        ignore(ignored, 'a Cluster client is duplicated with clusterOptions (its nodes\' ioredis options in clusterOptions.redisOptions)');
        return { plan: { kind: 'duplicate', client: o.client, clusterOptions: o.clusterOptions }, closeClient: closeClient ?? true, ...common };
      }
      ignore(o.clusterOptions === undefined ? [] : ['clusterOptions'], 'the client is not a Cluster');
      const redisOptions = mergeRedisOptions(topLevel, o.redisOptions);
      return { plan: { kind: 'duplicate', client: o.client, redisOptions }, closeClient: closeClient ?? true, ...common };
    }
    if (common.cacheMax !== undefined && !clusterClient) {
      // the cache turns tracking on and applies the connection's own writes itself: it needs a connection nobody else writes on
      const redisOptions = db === undefined ? undefined : ({ db: Number(db) } as RedisOptions);
      return { plan: { kind: 'duplicate', client: o.client, redisOptions }, closeClient: closeClient ?? true, ...common };
    }
    const ignored = connectionNames(o).filter((name) => name !== 'db');
    if (o.redisOptions !== undefined) ignored.push('redisOptions');
    if (o.clusterOptions !== undefined) ignored.push('clusterOptions');
    ignore(ignored, 'the store uses "client" as it is (as koa-redis did); add duplicate: true for a connection of its own with them');
    const plan: ClientPlan = { kind: 'given', client: o.client };
    if (db !== undefined && !clusterClient) plan.db = Number(db);
    return { plan, closeClient: closeClient ?? false, ...common };
  }

  if (cluster !== undefined) {
    if (db !== undefined && Number(db) !== 0) {
      throw new TypeError(`RedisStore option "db" (${String(db)}) cannot apply to a Cluster: Redis Cluster has only db 0`);
    }
    const ignored = connectionNames(o).filter((name) => name !== 'db');
    if (o.redisOptions !== undefined) ignored.push('redisOptions');
    ignore(ignored, 'a Cluster takes its nodes\' ioredis options in clusterOptions.redisOptions (koa-redis ignored them too)');
    common.cacheMax = noClusterCache(common.cacheMax);
    const plan: ClientPlan = { kind: 'cluster', nodes: cluster, clusterOptions: o.clusterOptions ?? {} };
    return { plan, closeClient: closeClient ?? true, ...common };
  }

  const ignored: string[] = [];
  if (o.nodes !== undefined) ignored.push('nodes');
  if (o.clusterOptions !== undefined) ignored.push('clusterOptions');
  ignore(ignored, 'they only apply to a Cluster (isRedisCluster: true or the cluster option)');
  const redisOptions = mergeRedisOptions(topLevel, o.redisOptions);
  const plan: ClientPlan = url === undefined ? { kind: 'standalone', redisOptions } : { kind: 'standalone', url, redisOptions };
  return { plan, closeClient: closeClient ?? true, ...common };
}

/** `cache`: false/undefined for none, true for the defaults, or { max }. */
function cacheMaxOf(cache: unknown): number | undefined {
  if (cache === undefined || cache === false) return undefined;
  if (cache === true) return CACHE_DEFAULT_MAX;
  if (cache === null || typeof cache !== 'object' || Array.isArray(cache)) {
    throw new TypeError(`RedisStore option "cache" must be true, false or { max }, got ${describe(cache)}`);
  }
  for (const name of Object.keys(cache)) {
    if (name !== 'max') throw new TypeError(`RedisStore option "cache" has no option "${name}": it takes { max }, the most sessions kept`);
  }
  const max = (cache as { max?: unknown }).max ?? CACHE_DEFAULT_MAX;
  if (!(typeof max === 'number' && Number.isSafeInteger(max) && max > 0)) {
    throw new TypeError(`RedisStore option "cache.max" must be a whole number above 0 (the most sessions kept), got ${describe(max)}`);
  }
  return max;
}

/**
 * A Cluster keeps the cache off. Tracking is per node there: it would take
 * one invalidation connection per master, re-pointed at every slot move,
 * failover and node added, each a window where a node's invalidations have
 * nowhere to go; each window must flush the whole cache, or serve a stale
 * session. Running uncached is slower but never wrong.
 */
function noClusterCache(max: number | undefined): undefined {
  if (max !== undefined) {
    warnRedisOption(
      'cache',
      'RedisStore ignores "cache" on a Cluster: Redis tracks reads per node, and following every node, slot move and failover ' +
        'without ever serving a stale session is not supported yet. Sessions are read from Redis on every request',
    );
  }
  return undefined;
}

function checkKnown(name: string): void {
  if (REDIS_OPTION_NAMES.has(name) || STORE_OPTION_NAMES.includes(name) || KOA_REDIS_OPTION_NAMES.includes(name)) return;
  const known = [...REDIS_OPTION_NAMES, ...STORE_OPTION_NAMES, ...KOA_REDIS_OPTION_NAMES];
  const near = sameName(name, known) ?? closest(name, known);
  const hint = HINTS[name] ?? (near === undefined ? undefined : `did you mean "${near}"?`);
  throw new TypeError(
    `RedisStore has no option "${name}"${hint === undefined ? '' : `: ${hint}`}. ` +
      'It takes its own options, koa-redis\'s, and ioredis\'s connection options at the top level; ' +
      'an ioredis option this version does not list can go in "redisOptions" (or "clusterOptions" for a Cluster)',
  );
}

function ignore(names: string[], why: string): void {
  if (names.length === 0) return;
  const list = names.map((name) => `"${name}"`).join(', ');
  warnRedisOption(names.join(','), `RedisStore ignores ${list}: ${why}`);
}

/** The ioredis options given at the top level, koa-redis's old names resolved as koa-redis resolved them. */
function redisOptionsOf(o: RedisStoreOptions & Record<string, unknown>): Record<string, unknown> {
  const top: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(o)) {
    if (value !== undefined && REDIS_OPTION_NAMES.has(name)) top[name] = value;
  }
  // koa-redis: `password || auth_pass || pass`, `path || socket`
  const password = o.password || o.auth_pass || o.pass;
  if (password) top.password = password;
  const path = o.path || o.socket;
  if (path) top.path = path;
  const db = top.db;
  if (db !== undefined && !(Number.isInteger(db) && (db as number) >= 0) && !(typeof db === 'string' && /^\d+$/.test(db))) {
    throw new TypeError(`RedisStore option "db" must be a whole number, 0 or more, got ${describe(db)}`);
  }
  return top;
}

/** The connection options given at the top level, by the names the app used. */
function connectionNames(o: Record<string, unknown>): string[] {
  return Object.keys(o).filter((name) => o[name] !== undefined && (REDIS_OPTION_NAMES.has(name) || ALIASES.includes(name)));
}

/** Top-level ioredis options and `redisOptions` are one set: a name given in both must agree. */
function mergeRedisOptions(top: Record<string, unknown>, nested: RedisOptions | undefined): RedisOptions {
  if (nested === undefined) return top as RedisOptions;
  if (nested === null || typeof nested !== 'object') {
    throw new TypeError(`RedisStore option "redisOptions" must be an object of ioredis options, got ${describe(nested)}`);
  }
  for (const [name, value] of Object.entries(nested)) {
    if (value === undefined || !(name in top) || top[name] === value) continue;
    throw new TypeError(
      `RedisStore option "${name}" is given twice with different values, at the top level (${describe(top[name])}) ` +
        `and in redisOptions (${describe(value)}): keep one`,
    );
  }
  return { ...top, ...nested } as RedisOptions;
}

function clusterNodes(o: RedisStoreOptions): ClusterNode[] | undefined {
  if (o.cluster !== undefined && o.isRedisCluster === true) {
    throw new TypeError('RedisStore takes the Cluster nodes once: either cluster: nodes, or koa-redis\'s isRedisCluster: true with nodes');
  }
  if (o.cluster !== undefined) {
    if (!Array.isArray(o.cluster) || o.cluster.length === 0) {
      throw new TypeError(`RedisStore option "cluster" must be a non-empty array of startup nodes, got ${describe(o.cluster)}`);
    }
    return o.cluster;
  }
  if (o.isRedisCluster !== true) return undefined;
  if (!Array.isArray(o.nodes) || o.nodes.length === 0) {
    throw new TypeError(`RedisStore option "isRedisCluster" needs "nodes", a non-empty array of startup nodes; got ${describe(o.nodes)}`);
  }
  return o.nodes;
}

function serializerOf(o: RedisStoreOptions): RedisSerializer | undefined {
  const { serialize, unserialize } = o;
  for (const [name, fn] of [['serialize', serialize], ['unserialize', unserialize]] as const) {
    if (fn !== undefined && fn !== null && typeof fn !== 'function') {
      throw new TypeError(`RedisStore option "${name}" must be a function, got ${describe(fn)}`);
    }
  }
  const koaRedis = typeof serialize === 'function' || typeof unserialize === 'function';
  if (o.serializer !== undefined && koaRedis) {
    throw new TypeError('RedisStore takes "serializer", or koa-redis\'s "serialize"/"unserialize", not both');
  }
  if (!koaRedis) return o.serializer;
  return {
    stringify: typeof serialize === 'function' ? serialize : JSON.stringify,
    parse: typeof unserialize === 'function' ? unserialize : JSON.parse,
  };
}

function checkStoreOptions(o: RedisStoreOptions): void {
  if (o.client !== undefined && !isClient(o.client)) {
    throw new TypeError('RedisStore option "client" must be an ioredis Redis or Cluster instance');
  }
  if (o.url !== undefined && typeof o.url !== 'string' && !(o.url instanceof URL)) {
    throw new TypeError(`RedisStore option "url" must be a string, got ${describe(o.url)}`);
  }
  if (o.sentinels !== undefined) {
    if (!Array.isArray(o.sentinels) || o.sentinels.length === 0) {
      throw new TypeError(`RedisStore option "sentinels" must be a non-empty array of { host, port }, got ${describe(o.sentinels)}`);
    }
    if (typeof o.name !== 'string' || o.name === '') {
      throw new TypeError(`RedisStore option "sentinels" needs "name", the master name the sentinels monitor; got ${describe(o.name)}`);
    }
  }
  const serializer = o.serializer as Partial<RedisSerializer> | undefined;
  if (
    serializer !== undefined &&
    (serializer === null || typeof serializer.stringify !== 'function' || typeof serializer.parse !== 'function')
  ) {
    throw new TypeError('RedisStore option "serializer" must be an object with stringify(session) and parse(text) functions');
  }
  const timeout = o.commandTimeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    throw new TypeError(`RedisStore option "commandTimeout" must be a finite number of ms above 0, got ${describe(timeout)}`);
  }
  const prefix = o.ownerPrefix;
  if (prefix !== undefined && !(typeof prefix === 'string' && prefix !== '' && !/[{}]/.test(prefix))) {
    throw new TypeError(
      `RedisStore option "ownerPrefix" must be a non-empty string without { or } (the owner is the key's Cluster hash tag), got ${describe(prefix)}`,
    );
  }
  for (const name of ['guardWrites', 'closeClient', 'duplicate', 'isRedisCluster'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') {
      throw new TypeError(`RedisStore option "${name}" must be a boolean, got ${describe(o[name])}`);
    }
  }
}
