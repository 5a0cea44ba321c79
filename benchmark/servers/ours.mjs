// koa-generic-session-ts from the build (dist/), with its MemoryStore or RedisStore.
//   BENCH_STORE  'memory' | 'redis'
//   BENCH_DEFER  '1' for defer mode (eager and defer are two contenders, whatever the workload)
//   BENCH_MERGE  '0' for merge: false (whole-session saves: the reference of merge's cost)
//   BENCH_AUDIT  '1': a listener on every session event that builds the JSON line an audit log would write
//   BENCH_TTL, BENCH_SWEEP  memory check: store ttl and MemoryStore sweep interval, in ms
//   BENCH_OWNER     '1': the owner index, one owner per signed-in visitor (every new visitor is user 0)
//   BENCH_DESCRIBE  '1' (with BENCH_OWNER): describe() records { userAgent, ip } on every write
//   BENCH_LIMIT     n (with BENCH_OWNER): maxSessionsPerOwner; new visitors, all user 0, end one session each
//   BENCH_CACHE     RedisStore's cache: '1' for `cache: true` (max 10000), or a number for `cache: { max }`
import { benchRedisUrl, hashIds, importLib, newApp, renewAfter, rolling, routes, serve } from './common.mjs';

const { session, MemoryStore } = await importLib('index.js');
const defer = process.env.BENCH_DEFER === '1';
const ttl = process.env.BENCH_TTL ? Number(process.env.BENCH_TTL) : undefined;

let store;
if (process.env.BENCH_STORE === 'redis') {
  const { RedisStore } = await importLib('store/redis.js');
  const cache = process.env.BENCH_CACHE;
  store = new RedisStore({ url: benchRedisUrl(), ...(cache ? { cache: cache === '1' ? true : { max: Number(cache) } } : {}) });
  // tracking turns on shortly after the store connects; until then every read goes to Redis
  if (cache) await cacheTracking(store);
} else {
  store = new MemoryStore(process.env.BENCH_SWEEP ? { sweepInterval: Number(process.env.BENCH_SWEEP) } : {});
}

const merge = process.env.BENCH_MERGE !== '0';
const owners =
  process.env.BENCH_OWNER === '1'
    ? {
        owner: (s) => (s.user ? 'user' + s.user.id : undefined),
        ...(process.env.BENCH_DESCRIBE === '1' ? { describe: (ctx) => ({ userAgent: ctx.get('user-agent') || null, ip: ctx.ip }) } : {}),
        ...(process.env.BENCH_LIMIT ? { maxSessionsPerOwner: Number(process.env.BENCH_LIMIT) } : {}),
      }
    : {};
const middleware = session({
  store,
  defer,
  rolling: renewAfter === undefined ? rolling : { renewAfter },
  merge,
  ...(hashIds ? { hashIds: true } : {}),
  ...owners,
  ...(ttl === undefined ? {} : { ttl }),
});
if (process.env.BENCH_AUDIT === '1') {
  // what an audit log does per event, short of the write (kept so the work is not optimized away)
  let last = '';
  const audit = (event) => (payload) => {
    last = JSON.stringify({ at: Date.now(), event, handle: payload.handle, owner: payload.owner, ip: payload.ctx?.ip });
  };
  for (const event of ['created', 'regenerated', 'destroyed', 'expired', 'lost', 'invalid']) middleware.on(event, audit(event));
  process.on('exit', () => void last);
}
const app = newApp();
app.use(middleware);
app.use(routes({ defer }));
serve(app, {
  // a cached RedisStore: the sessions it holds in this process
  probe: () => ({ sessions: store instanceof MemoryStore ? store.size : store.cacheStats?.()?.entries }),
  stats: () => ({ cache: store.cacheStats?.() }),
  close: () => middleware.close({ timeout: 1000 }),
});

/** Waits until Redis tracks the store's reads (cacheStats().tracking), or fails the server's start. */
async function cacheTracking(redisStore, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = redisStore.cacheStats();
    if (stats.tracking) return;
    if (stats.disabled !== undefined) throw new Error(`RedisStore's cache is off: ${stats.disabled}`);
    if (Date.now() > deadline) throw new Error(`RedisStore's cache did not start tracking within ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
