// Memory check: is the heap of an app using MemoryStore bounded by the
// sessions alive, with expired sessions freed? For each workload, an app in
// its own process (started with --expose-gc, see memory-worker.mjs) takes
// 200,000 requests with a store ttl of 1 s; its heap after a full GC is read
// before the run, right after it, and once every session has expired. koa-generic-session@2.3.1's MemoryStore, which
// never frees a session, takes the new-visitor run too, for contrast.
//
// RedisStore with its cache (on a redis-server of its own) takes the same runs:
// its heap must stay bounded by the cache's `max` however many visitors come
// (the new-visitor run goes twice, with a max far below the visitors and with
// the default), and the sessions it holds must be freed once they expire in
// Redis, which tells the cache through its invalidations.
//
// Run alone: node benchmark/memory.mjs [--quick] [--workloads a,b] [--requests n] [--stores memory,redis-cache]
// (npm run bench runs it after the throughput rounds.)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { libDir } from './contenders.mjs';
import { parseArgs } from './harness.mjs';
import { redisCommand, startRedis } from './redis.mjs';

export const MEMORY_TTL = 1000;
export const MEMORY_SWEEP = 500;
const POOL = 32;
const MB = 2 ** 20;
const WORKER = fileURLToPath(new URL('./memory-worker.mjs', import.meta.url));
export const MEMORY_WORKLOADS = ['new', 'read', 'change', 'untouched', 'rolling'];
/** The stores checked: this package's MemoryStore, and RedisStore with its cache. */
export const MEMORY_STORES = ['memory', 'redis-cache'];
/** The cache's `max` in the run whose visitors far outnumber it; the other runs use the default, 10000. */
export const CACHE_SMALL_MAX = 1000;
const CACHE_DEFAULT_MAX = 10_000;

/** Runs one check in a fresh process and resolves with its row. */
async function checkOne({ id, server, env, workload, requests }) {
  const child = fork(WORKER, [], {
    execArgv: ['--expose-gc'],
    env: {
      ...process.env,
      NODE_ENV: 'benchmark',
      ...env,
      BENCH_SERVER: server,
      BENCH_WORKLOAD: workload,
      BENCH_REQUESTS: String(requests),
      BENCH_TTL: String(MEMORY_TTL),
      BENCH_SWEEP: String(MEMORY_SWEEP),
      BENCH_POOL: String(POOL),
      BENCH_LIB: libDir(),
    },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  process.on('exit', kill);
  let result;
  child.on('message', (message) => {
    if (message?.type === 'result') result = message;
  });
  const timer = setTimeout(kill, 180_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  process.off('exit', kill);
  if (result === undefined) throw new Error(`memory check ${id}/${workload} exited (${signal ?? code}) without a result:\n${stderr.trim()}`);
  const { before, after, expired } = result;
  const grown = after.heapUsed - before.heapUsed;
  return {
    id,
    ...(env.BENCH_CACHE
      ? {
          cacheMax: Number(env.BENCH_CACHE),
          cache: cacheDuring(before.cache, after.cache),
          // what freed the sessions once the run was over: Redis's invalidations as their keys expired
          cacheAfterRun: cacheDuring(after.cache, expired.cache),
          // from the end of the run until the cache held no session (the ttl included)
          emptiedAfterMs: result.emptiedAfterMs,
        }
      : {}),
    workload,
    requests: result.requests,
    failed: result.failed,
    seconds: Math.round(result.seconds * 10) / 10,
    heapBeforeMB: round1(before.heapUsed / MB),
    heapAfterMB: round1(after.heapUsed / MB),
    sessionsAfter: after.sessions,
    heapAfterExpiryMB: round1(expired.heapUsed / MB),
    sessionsAfterExpiry: expired.sessions,
    bytesPerSessionHeld: after.sessions > 0 && grown > 0 ? Math.round(grown / after.sessions) : undefined,
  };
}

const round1 = (x) => Math.round(x * 10) / 10;

/** The cache's counters over the measured run (the warm-up's left out). */
function cacheDuring(before, after) {
  const during = {};
  for (const name of ['hits', 'misses', 'invalidations', 'flushes', 'evictions']) during[name] = after[name] - before[name];
  return during;
}

/**
 * Runs the check for `workloads` on `stores`; returns { settings, rows }. A
 * row is `bounded` when, once the ttl has passed, the store holds no session
 * and the heap is back within 3 MB of where it started; a cache row also
 * when it never held more than its `max`.
 */
export async function runMemoryCheck({
  quick = false,
  workloads = MEMORY_WORKLOADS,
  stores = ['memory'],
  requests,
  log = () => {},
} = {}) {
  const total = requests ?? (quick ? 20_000 : 200_000);
  for (const store of stores) if (!MEMORY_STORES.includes(store)) throw new Error(`unknown store ${store}`);
  const rows = [];
  for (const workload of stores.includes('memory') ? workloads : []) {
    if (!MEMORY_WORKLOADS.includes(workload)) throw new Error(`unknown workload ${workload}`);
    // the untouched route is measured in defer mode, as in the throughput rounds
    const defer = workload === 'untouched';
    const row = await checkOne({
      id: 'ours-memory-' + (defer ? 'defer' : 'eager'),
      server: 'ours.mjs',
      env: {
        BENCH_STORE: 'memory',
        BENCH_DEFER: defer ? '1' : '0',
        BENCH_VARIANT: workload === 'rolling' ? 'rolling' : defer ? 'defer' : 'plain',
      },
      workload,
      requests: total,
    });
    row.bounded =
      row.failed === 0 &&
      row.sessionsAfterExpiry === 0 &&
      row.heapAfterExpiryMB - row.heapBeforeMB <= 3;
    rows.push(row);
    log(`  ${workload}: ${describe(row)}`);
  }
  if (!quick && stores.includes('memory') && workloads.includes('new')) {
    // the store this package replaces, for contrast: it ignores the ttl and frees nothing
    const row = await checkOne({
      id: 'kgs-memory',
      server: 'kgs.mjs',
      env: { BENCH_STORE: 'memory', BENCH_VARIANT: 'plain' },
      workload: 'new',
      // it slows down as its object of sessions grows; a quarter of the requests shows the trend
      requests: Math.round(total / 4),
    });
    row.bounded = row.sessionsAfterExpiry === 0 && row.heapAfterExpiryMB - row.heapBeforeMB <= 3;
    rows.push(row);
    log(`  new (koa-generic-session@2.3.1 MemoryStore): ${describe(row)}`);
  }
  if (stores.includes('redis-cache')) rows.push(...(await checkCache({ workloads, total, log })));
  return { settings: { requests: total, ttlMs: MEMORY_TTL, sweepIntervalMs: MEMORY_SWEEP, pool: POOL }, rows };
}

/** RedisStore with its cache, on a redis-server of its own, emptied before each run. */
async function checkCache({ workloads, total, log }) {
  const runs = [];
  for (const workload of workloads) {
    // the untouched route reads nothing in defer mode: nothing to cache
    if (workload === 'untouched') continue;
    if (workload === 'new') runs.push({ workload, max: CACHE_SMALL_MAX });
    runs.push({ workload, max: CACHE_DEFAULT_MAX });
  }
  if (runs.length === 0) return [];
  const rows = [];
  const redis = await startRedis();
  try {
    for (const { workload, max } of runs) {
      await redisCommand(redis.port, 'FLUSHALL');
      const row = await checkOne({
        id: 'ours-redis-cache',
        server: 'ours.mjs',
        env: {
          BENCH_STORE: 'redis',
          BENCH_CACHE: String(max),
          BENCH_REDIS_URL: redis.url,
          BENCH_DEFER: '0',
          BENCH_VARIANT: workload === 'rolling' ? 'rolling' : 'plain',
        },
        workload,
        requests: total,
      });
      row.bounded =
        row.failed === 0 &&
        row.sessionsAfter <= max &&
        row.sessionsAfterExpiry === 0 &&
        row.heapAfterExpiryMB - row.heapBeforeMB <= 3;
      rows.push(row);
      log(`  ${workload} (RedisStore, cache max ${max}): ${describe(row)}`);
    }
  } finally {
    await redis.stop();
  }
  return rows;
}

function describe(row) {
  const cache = row.cache
    ? `; during the run ${row.cache.evictions} evicted, ${row.cache.invalidations} invalidations` +
      `${row.cache.flushes ? `, ${row.cache.flushes} FLUSHES` : ''}; ${row.cacheAfterRun.invalidations} invalidations after it, ` +
      `empty ${row.emptiedAfterMs} ms after it`
    : '';
  return (
    `${row.requests} requests in ${row.seconds} s; heap ${row.heapBeforeMB} MB → ${row.heapAfterMB} MB ` +
    `holding ${row.sessionsAfter} sessions → ${row.heapAfterExpiryMB} MB holding ${row.sessionsAfterExpiry} ` +
    `after the ttl${cache}${row.failed ? `; ${row.failed} failed` : ''}`
  );
}

function storeName(row) {
  if (row.id === 'kgs-memory') return 'koa-generic-session@2.3.1 MemoryStore';
  if (row.id === 'ours-redis-cache') return `this package's RedisStore, cache max ${row.cacheMax.toLocaleString('en-US')}`;
  return `this package's MemoryStore${row.id.endsWith('defer') ? ', defer' : ''}`;
}

/** The check as a text table, or Markdown with `md`. */
export function formatMemory(memory, md = false) {
  const head = ['workload', 'store', 'requests', 'heap before', 'heap after run', 'sessions held', 'heap after ttl', 'sessions held', 'bounded'];
  const body = memory.rows.map((r) => [
    r.workload,
    storeName(r),
    r.requests.toLocaleString('en-US'),
    `${r.heapBeforeMB} MB`,
    `${r.heapAfterMB} MB`,
    String(r.sessionsAfter ?? '-'),
    `${r.heapAfterExpiryMB} MB`,
    String(r.sessionsAfterExpiry ?? '-'),
    r.bounded ? 'yes' : 'NO',
  ]);
  const s = memory.settings;
  let note =
    `Heap used after a full GC. Requests injected in-process, ten at a time; store ttl ${s.ttlMs} ms, ` +
    `sweep every ${s.sweepIntervalMs} ms; returning visitors: ${s.pool} sessions, logged in again every 200 ms.`;
  if (memory.rows.some((r) => r.id === 'ours-redis-cache')) {
    note +=
      ` RedisStore's "sessions held" are the sessions its cache holds in the process; Redis's own memory is not counted.`;
  }
  if (md) {
    return [
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...body.map((cells) => `| ${cells.join(' | ')} |`),
      '',
      note,
      '',
    ].join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(head), ...body.map(line), note].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  const memory = await runMemoryCheck({
    quick: args.quick === true,
    workloads: typeof args.workloads === 'string' ? args.workloads.split(',') : undefined,
    requests: args.requests ? Number(args.requests) : undefined,
    stores: typeof args.stores === 'string' ? args.stores.split(',') : MEMORY_STORES,
    log: console.log,
  });
  console.log(formatMemory(memory));
  if (memory.rows.some((r) => !r.bounded && r.id !== 'kgs-memory')) process.exitCode = 1;
}
