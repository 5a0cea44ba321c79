import { createHook } from 'node:async_hooks';
import { debuglog } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { warnRedisOption, type ClientPlan } from './redis-config.js';

const debug = debuglog('koa-generic-session:redis');

/** An ioredis client: a `Redis` (standalone or Sentinel) or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/**
 * The settings of the clients the store creates: nothing queued in ioredis
 * survives a disconnect, so nothing is replayed after a reconnect. Requests
 * that arrive during an outage wait in the session middleware's watcher
 * (`reconnectTimeout`), not in ioredis.
 */
const REDIS_DEFAULTS: RedisOptions = {
  // a command issued while (re)connecting waits for `ready` or the next failed attempt
  enableOfflineQueue: true,
  // every `close` fails everything queued: never replayed on reconnect
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  // back within half a second of the server, however long the outage was
  retryStrategy: (attempt: number) => Math.min(attempt * 50, 500),
};

const CLUSTER_DEFAULTS: ClusterOptions = {
  enableOfflineQueue: true,
  clusterRetryStrategy: (attempt: number) => Math.min(attempt * 50, 500),
};

function noop(): void {}

export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: unknown }).isCluster === true;
}

/** The client a plan names: the given one, its duplicate, or a new one with the store's defaults. */
export function createClient(plan: ClientPlan): RedisClient {
  switch (plan.kind) {
    case 'given':
      if (plan.db !== undefined) selectDb(plan.client as Redis, plan.db);
      return plan.client;
    case 'duplicate':
      // the given client's own settings are kept, as for a given client: only what the app passed changes
      return isCluster(plan.client)
        ? plan.client.duplicate(undefined, plan.clusterOptions)
        : plan.client.duplicate(plan.redisOptions);
    case 'cluster': {
      const given = plan.clusterOptions;
      return new Cluster(plan.nodes, {
        ...CLUSTER_DEFAULTS,
        ...given,
        redisOptions: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, ...given.redisOptions },
      });
    }
    case 'standalone': {
      const options: RedisOptions = { ...REDIS_DEFAULTS, ...plan.redisOptions };
      if (plan.url === undefined) return new Redis(options);
      const client = new Redis(plan.url, options);
      warnUrlOverrides(plan.url, plan.redisOptions, client.options);
      return client;
    }
  }
}

/**
 * koa-redis's `db` with a given client: that client is switched to the db,
 * as koa-redis's `SELECT` switched it (ioredis selects it again after a
 * reconnect). A lazy client that has not connected yet reads the db from its
 * options when it does, and is not made to connect now.
 */
function selectDb(client: Redis, db: number): void {
  if (client.status === 'wait') {
    client.options.db = db;
    return;
  }
  client.select(db).catch((err: unknown) => debug('SELECT %d on the given client failed: %s', db, (err as Error)?.message));
}

/**
 * ioredis reads `new Redis(url, options)` as koa-redis did: what the URL
 * states wins, the options fill in the rest. A top-level option the URL
 * overrode is most likely a leftover pointing elsewhere: say so.
 */
function warnUrlOverrides(url: string, given: RedisOptions, resolved: RedisOptions): void {
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || (typeof value === 'object' && value !== null) || typeof value === 'function') continue;
    const actual = (resolved as Record<string, unknown>)[name];
    if (String(actual) === String(value)) continue;
    warnRedisOption(
      name,
      `RedisStore option "${name}" (${JSON.stringify(value)}) is overridden by "url", which gives ${JSON.stringify(actual)}: ` +
        `the URL wins, as in koa-redis and ioredis. Remove one of them (url: ${redactUrl(url)})`,
    );
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * Closes a client: `QUIT` when connected, else at once. Resolves once the
 * connection has ended (or `timeoutMs` passed), with no timer of ioredis
 * left holding the process.
 */
export async function closeClient(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status === 'ready') {
    // QUIT on a connection ioredis thinks writable may still end in disconnect(): same timer care
    await withTimeout(unrefTimersOf(() => client.quit()).catch(noop), timeoutMs);
  }
  const status = client.status as string;
  if (status !== 'end') {
    // not connected, or a QUIT that got no reply in time
    unrefTimersOf(() => client.disconnect());
    // ioredis stops a `reconnecting` client (Redis or Cluster) without ever emitting `end`
    if (status !== 'reconnecting') await withTimeout(ended, timeoutMs);
  }
}

/**
 * Runs `fn` and unrefs the timers it created synchronously. ioredis's
 * `disconnect()` arms a `disconnectTimeout` timer (2 s by default) to destroy
 * a socket that does not close after `end()`, and clears it on the socket's
 * `close`. When Redis is down the socket closed long ago, so the timer runs
 * its full 2 s and keeps the process alive (ioredis issue #1247). The timer
 * itself stays: it still destroys a socket that lingers, and a lingering
 * socket keeps the process alive on its own.
 */
function unrefTimersOf<T>(fn: () => T): T {
  const timers: Array<{ unref?: () => unknown }> = [];
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'Timeout') timers.push(resource as { unref?: () => unknown });
    },
  });
  hook.enable();
  try {
    return fn();
  } finally {
    hook.disable();
    for (const timer of timers) timer.unref?.();
  }
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
