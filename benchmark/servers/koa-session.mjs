// koa-session@7: the whole session in the cookie, or (BENCH_STORE=redis) an
// external store on ioredis written the way its README shows. It has no defer mode.
import { createRequire } from 'node:module';
import { benchRedisUrl, newApp, rolling, routes, serve } from './common.mjs';

const require = createRequire(import.meta.url);
const { default: createSession } = await import('koa-session');

let redis;
let store;
if (process.env.BENCH_STORE === 'redis') {
  const Redis = require('ioredis');
  redis = new Redis(benchRedisUrl());
  store = {
    async get(key) {
      const value = await redis.get(key);
      return value === null ? undefined : JSON.parse(value);
    },
    async set(key, sess, maxAge) {
      await redis.set(key, JSON.stringify(sess), 'PX', maxAge);
    },
    async destroy(key) {
      await redis.del(key);
    },
  };
}

const app = newApp();
app.use(createSession({ rolling, maxAge: 86_400_000, ...(store ? { store } : {}) }, app));
app.use(routes({ defer: false }));
serve(app, { close: async () => redis?.quit() });
