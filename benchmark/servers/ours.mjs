// koa-generic-session-ts from the build (dist/), with its MemoryStore or RedisStore.
//   BENCH_STORE  'memory' | 'redis'
//   BENCH_DEFER  '1' for defer mode (eager and defer are two contenders, whatever the workload)
//   BENCH_MERGE  '0' for merge: false (whole-session saves: the reference of merge's cost)
//   BENCH_TTL, BENCH_SWEEP  memory check: store ttl and MemoryStore sweep interval, in ms
import { benchRedisUrl, hashIds, importLib, newApp, renewAfter, rolling, routes, serve } from './common.mjs';

const { session, MemoryStore } = await importLib('index.js');
const defer = process.env.BENCH_DEFER === '1';
const ttl = process.env.BENCH_TTL ? Number(process.env.BENCH_TTL) : undefined;

let store;
if (process.env.BENCH_STORE === 'redis') {
  const { RedisStore } = await importLib('store/redis.js');
  store = new RedisStore({ url: benchRedisUrl() });
} else {
  store = new MemoryStore(process.env.BENCH_SWEEP ? { sweepInterval: Number(process.env.BENCH_SWEEP) } : {});
}

const merge = process.env.BENCH_MERGE !== '0';
const middleware = session({
  store,
  defer,
  rolling: renewAfter === undefined ? rolling : { renewAfter },
  merge,
  ...(hashIds ? { hashIds: true } : {}),
  ...(ttl === undefined ? {} : { ttl }),
});
const app = newApp();
app.use(middleware);
app.use(routes({ defer }));
serve(app, {
  probe: () => ({ sessions: store instanceof MemoryStore ? store.size : undefined }),
  close: () => middleware.close({ timeout: 1000 }),
});
