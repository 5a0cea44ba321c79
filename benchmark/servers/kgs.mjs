// koa-generic-session@2.3.1 with its MemoryStore, or with koa-redis@4 (BENCH_STORE=redis).
// It has a defer mode: the untouched-route workload (BENCH_VARIANT=defer) uses it.
import { createRequire } from 'node:module';
import { benchRedisUrl, deferVariant, newApp, rolling, routes, serve } from './common.mjs';

const require = createRequire(import.meta.url);
const session = require('koa-generic-session');

const store = process.env.BENCH_STORE === 'redis'
  ? require('koa-redis')({ url: benchRedisUrl() })
  : new session.MemoryStore();
const ttl = process.env.BENCH_TTL ? Number(process.env.BENCH_TTL) : undefined;

const defer = deferVariant;
const app = newApp();
app.use(session({ store, defer, rolling, ...(ttl === undefined ? {} : { ttl }) }));
app.use(routes({ defer }));
serve(app, {
  probe: () => ({ sessions: store instanceof session.MemoryStore ? Object.keys(store.sessions).length : undefined }),
  close: async () => (store instanceof session.MemoryStore ? undefined : store.client.quit()),
});
