// What is measured: the contenders, the workloads, and the targets.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const libDir = () => resolve(process.env.BENCH_LIB ?? resolve(root, 'dist/cjs/lib'));

/**
 * `server`: file under benchmark/servers/; `env`: its settings; `redis`: needs
 * the runner's redis-server; `requires`: a built file it cannot run without;
 * `workloads`: the only workloads it runs in (default: all but those with
 * `only`); `cache`: a RedisStore with its cache, whose hit rate is reported
 * (the server answers the 'stats' probe with `cacheStats()`).
 */
export const CONTENDERS = [
  { id: 'bare', label: 'bare Koa (ceiling)', server: 'bare.mjs', env: {} },
  {
    id: 'ours-memory-eager',
    label: 'koa-generic-session-ts, MemoryStore',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'memory' },
    ours: true,
  },
  {
    id: 'ours-memory-defer',
    label: 'koa-generic-session-ts, MemoryStore, defer',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'memory', BENCH_DEFER: '1' },
    ours: true,
    defer: true,
  },
  {
    id: 'ours-redis-eager',
    label: 'koa-generic-session-ts, RedisStore',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'redis' },
    ours: true,
    redis: true,
    requires: 'store/redis.js',
  },
  {
    id: 'ours-redis-defer',
    label: 'koa-generic-session-ts, RedisStore, defer',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'redis', BENCH_DEFER: '1' },
    ours: true,
    defer: true,
    redis: true,
    requires: 'store/redis.js',
  },
  {
    // server-assisted cache (CLIENT TRACKING): a read that hits sends nothing to Redis; max 10000 holds every visitor here
    id: 'ours-redis-cache',
    label: 'koa-generic-session-ts, RedisStore, cache',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'redis', BENCH_CACHE: '1' },
    ours: true,
    redis: true,
    cache: true,
    requires: 'store/redis-cache.js',
    workloads: ['new', 'read', 'change', 'untouched', 'rolling', 'rolling-renew'],
  },
  {
    id: 'ours-memory-nomerge',
    label: 'koa-generic-session-ts, MemoryStore, merge: false',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'memory', BENCH_MERGE: '0' },
    ours: true,
    reference: 'merge',
    workloads: ['change', 'contended'],
  },
  {
    id: 'ours-redis-nomerge',
    label: 'koa-generic-session-ts, RedisStore, merge: false',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'redis', BENCH_MERGE: '0' },
    ours: true,
    redis: true,
    requires: 'store/redis.js',
    reference: 'merge',
    workloads: ['change', 'contended'],
  },
  {
    id: 'ours-memory-audit',
    label: 'koa-generic-session-ts, MemoryStore, audit listeners',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'memory', BENCH_AUDIT: '1' },
    ours: true,
    reference: 'audit',
    workloads: ['new', 'read', 'change'],
  },
  {
    id: 'ours-redis-owner',
    label: 'koa-generic-session-ts, RedisStore, owner',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'redis', BENCH_OWNER: '1' },
    ours: true,
    redis: true,
    requires: 'store/redis.js',
    reference: 'owner',
    workloads: ['new', 'read', 'change', 'rolling'],
  },
  {
    id: 'ours-redis-describe',
    label: 'koa-generic-session-ts, RedisStore, owner + describe',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'redis', BENCH_OWNER: '1', BENCH_DESCRIBE: '1' },
    ours: true,
    redis: true,
    requires: 'store/redis.js',
    reference: 'owner',
    workloads: ['new', 'read', 'change', 'rolling'],
  },
  {
    id: 'ours-redis-limit',
    label: 'koa-generic-session-ts, RedisStore, owner + describe + maxSessionsPerOwner: 3',
    server: 'ours.mjs',
    env: { BENCH_STORE: 'redis', BENCH_OWNER: '1', BENCH_DESCRIBE: '1', BENCH_LIMIT: '3' },
    ours: true,
    redis: true,
    requires: 'store/redis.js',
    reference: 'owner',
    workloads: ['new', 'read', 'change', 'rolling'],
  },
  {
    id: 'kgs-memory',
    label: 'koa-generic-session@2.3.1, MemoryStore',
    server: 'kgs.mjs',
    env: { BENCH_STORE: 'memory' },
    hasDefer: true,
  },
  {
    id: 'kgs-redis',
    label: 'koa-generic-session@2.3.1 + koa-redis@4',
    server: 'kgs.mjs',
    env: { BENCH_STORE: 'redis' },
    redis: true,
    hasDefer: true,
  },
  { id: 'koa-session-cookie', label: 'koa-session@7, cookie', server: 'koa-session.mjs', env: { BENCH_STORE: 'cookie' } },
  {
    id: 'koa-session-redis',
    label: 'koa-session@7 + ioredis store',
    server: 'koa-session.mjs',
    env: { BENCH_STORE: 'redis' },
    redis: true,
  },
];

/**
 * `variant` goes to the server as BENCH_VARIANT. `check` is the body a
 * correct answer has (verified on every measured request). `shared`: every
 * connection sends the same cookies in the same order, instead of each its
 * own visitors. `only`: the contenders it is measured for (besides bare Koa).
 */
export const WORKLOADS = [
  {
    id: 'new',
    label: 'new visitor',
    detail: 'no cookie; the request creates a session',
    path: '/new',
    returning: false,
    variant: 'plain',
    check: (body) => body === 'created',
  },
  {
    id: 'read',
    label: 'returning, reads',
    detail: 'a returning visitor who only reads the session',
    path: '/read',
    returning: true,
    variant: 'plain',
    check: (body) => body === 'hello bench',
  },
  {
    id: 'change',
    label: 'returning, changes',
    detail: 'a returning visitor who changes the session on every request',
    path: '/change',
    returning: true,
    variant: 'plain',
    check: (body) => /^[1-9][0-9]*$/.test(body),
  },
  {
    id: 'contended',
    label: 'returning, overlapping changes',
    detail:
      'as "returning, changes", but every connection walks the same visitors in step: most saves overlap another ' +
      'request of the same session (merge pays for the conflict; whole-session saves lose the other change)',
    path: '/change',
    returning: true,
    shared: true,
    only: ['ours-memory-eager', 'ours-memory-nomerge', 'ours-redis-eager', 'ours-redis-nomerge'],
    variant: 'plain',
    check: (body) => /^[1-9][0-9]*$/.test(body),
  },
  {
    id: 'untouched',
    label: 'untouched route',
    detail: 'a returning visitor on a route that never touches the session (defer mode where the contender has it)',
    path: '/untouched',
    returning: true,
    variant: 'defer',
    check: (body) => body === 'ok',
  },
  {
    id: 'rolling',
    label: 'rolling, reads',
    detail: 'rolling: true; a returning visitor who only reads',
    path: '/read',
    returning: true,
    variant: 'rolling',
    check: (body) => body === 'hello bench',
  },
  {
    id: 'rolling-renew',
    label: 'rolling, renewAfter, reads',
    detail: 'rolling: { renewAfter: 60000 }; a returning visitor who only reads (extended at most once a minute)',
    path: '/read',
    returning: true,
    variant: 'rolling-renew',
    only: ['ours-memory-eager', 'ours-redis-eager', 'ours-redis-cache'],
    check: (body) => body === 'hello bench',
  },
  {
    id: 'read-hashed',
    label: 'returning, reads, hashIds',
    detail: 'hashIds: true; a returning visitor who only reads',
    path: '/read',
    returning: true,
    variant: 'hashed',
    only: ['ours-memory-eager', 'ours-redis-eager'],
    check: (body) => body === 'hello bench',
  },
  {
    id: 'change-hashed',
    label: 'returning, changes, hashIds',
    detail: 'hashIds: true; a returning visitor who changes the session on every request',
    path: '/change',
    returning: true,
    variant: 'hashed',
    only: ['ours-memory-eager', 'ours-redis-eager'],
    check: (body) => /^[1-9][0-9]*$/.test(body),
  },
];

/**
 * The issues' targets: minimum ratio to bare Koa, Redis commands per
 * request, minimum multiples of other contenders (RedisStore: 2x
 * koa-generic-session + koa-redis; a change with merge on: 0.9x the same
 * store with `merge: false`, issue 8's "within 10%").
 */
export function targetsFor(contender, workload) {
  if (!contender.ours || contender.reference) return undefined;
  if (contender.cache) return cacheTargets(workload);
  const memory = contender.env.BENCH_STORE === 'memory';
  const ratio = memory
    ? { read: 0.75, change: 0.65, new: 0.65, untouched: contender.defer ? 0.95 : undefined }[workload.id]
    : { read: 0.55, change: 0.4, untouched: contender.defer ? 0.95 : undefined }[workload.id];
  const target = {};
  if (ratio !== undefined) target.ratio = ratio;
  const vs = [];
  const nomerge = memory ? 'ours-memory-nomerge' : 'ours-redis-nomerge';
  if (workload.id === 'change' && !contender.defer) vs.push({ contender: nomerge, times: 0.9 });
  // overlapping changes: merge's cost when saves conflict, reported beside whole-session saves (which lose changes)
  if (workload.id === 'contended') vs.push({ contender: nomerge });
  if (!memory) {
    if (workload.id === 'read' || workload.id === 'change') vs.unshift({ contender: 'kgs-redis', times: 2 });
    // round trips per request; `exactly` names them where the issue does
    const commands = {
      read: { count: 1, exactly: { get: 1 } },
      change: { count: 2 },
      untouched: contender.defer ? { count: 0 } : undefined,
      rolling: { count: 2, exactly: { get: 1, pexpire: 1 } },
      // the "no store command beyond the read" between renewals
      'rolling-renew': { count: 1, exactly: { get: 1 } },
      'read-hashed': { count: 1, exactly: { get: 1 } },
      'change-hashed': { count: 2 },
    }[workload.id];
    if (commands !== undefined) target.commands = commands;
  }
  if (vs.length > 0) target.vs = vs;
  return Object.keys(target).length ? target : undefined;
}

/**
 * RedisStore with its cache: a read that hits sends nothing; a change, a new
 * session and a rolling touch one script each. Reads within 15 % of
 * MemoryStore's, changes at least 1.3 times the uncached store's, and every
 * returning visitor's read a hit.
 */
function cacheTargets(workload) {
  const commands = {
    read: { count: 0 },
    change: { count: 1, exactly: { evalsha: 1 } },
    new: { count: 1, exactly: { evalsha: 1 } },
    untouched: { count: 0 },
    rolling: { count: 1, exactly: { evalsha: 1 } },
    'rolling-renew': { count: 0 },
  }[workload.id];
  if (commands === undefined) return undefined;
  const target = { commands };
  if (workload.returning) target.hitRate = 0.99;
  if (workload.id === 'read') target.vs = [{ contender: 'ours-memory-eager', times: 0.85 }];
  if (workload.id === 'change') target.vs = [{ contender: 'ours-redis-eager', times: 1.3 }];
  if (workload.id === 'rolling') target.vs = [{ contender: 'ours-redis-eager' }];
  return target;
}

/** Why a contender cannot run here, or undefined. */
export function unavailable(contender) {
  const lib = contender.lib ?? libDir();
  if (contender.requires && !existsSync(resolve(lib, contender.requires))) {
    return `${resolve(lib, contender.requires)} is not built yet`;
  }
  return undefined;
}
