// One app process of the cache tests: a Koa app with the session middleware on
// a RedisStore with the cache on (REDIS_URL, the test's own redis-server).
// Started with an IPC channel by test/support/cache-processes.ts; it reports
// over it: `ready` (its port, once Redis tracks its reads), every
// `cacheInvalidate` and `cacheFlush` of its store, `written` when the reply
// to a change (the store's merge) came, and `held` when
// a /set?hold=NAME waits for the test's `open` NAME. `stop` ends it.
//
// Routes: /login?user=U (a new session for U), /read, /set?k=K&v=V, /logout,
// /everywhere (ends U's other sessions), /__stats (cacheStats), /__track?key=K
// (reads K through the store, so Redis tracks it for this process).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import Koa from 'koa';
import session from '../../lib/index.js';
import { RedisStore } from '../../lib/store/redis.js';
import type { CacheAppMessage, CacheAppCommand } from './cache-processes.js';

const send = (message: CacheAppMessage) => process.send!(message);
/** Wall-clock ms with sub-ms resolution, comparable between processes on one machine. */
const now = () => performance.timeOrigin + performance.now();

if (process.env.REDIS_URL === undefined) throw new Error('cache app: REDIS_URL names the test\'s redis-server');
const store = new RedisStore({ url: process.env.REDIS_URL, cache: true, connectionName: process.env.APP_NAME });
store.on('cacheInvalidate', (keys: string[]) => send({ type: 'invalidate', keys, at: now() }));
store.on('cacheFlush', (reason: string) => send({ type: 'flush', reason, at: now() }));

const opened = new Map<string, () => void>();
const openings = new Map<string, Promise<void>>();
function opening(name: string): Promise<void> {
  let promise = openings.get(name);
  if (promise === undefined) {
    promise = new Promise<void>((resolve) => opened.set(name, resolve));
    openings.set(name, promise);
  }
  return promise;
}
process.on('message', (command: CacheAppCommand) => {
  if (command.type === 'open') {
    void opening(command.name);
    opened.get(command.name)!();
  } else if (command.type === 'stop') {
    void stop();
  }
});

const app = new Koa();
app.keys = ['cache processes key'];
app.silent = true;
app.use(async (ctx, next) => {
  if (ctx.path === '/__stats') {
    ctx.body = store.cacheStats();
  } else if (ctx.path === '/__track') {
    ctx.body = { found: (await store.get(String(ctx.query.key))) !== null };
  } else {
    await next();
  }
});
// when each change's reply came: what another process's invalidation is timed against
const merge = store.merge!;
Object.defineProperty(store, 'merge', {
  value: async (...args: Parameters<typeof merge>) => {
    const applied = await merge.apply(store, args);
    send({ type: 'written', key: args[0], at: now() });
    return applied;
  },
});
app.use(session({ store, owner: (s) => s.userId as string | undefined }));
app.use(async (ctx) => {
  const s = ctx.session!;
  if (ctx.path === '/login') {
    await ctx.regenerateSession();
    ctx.session!.userId = String(ctx.query.user);
  } else if (ctx.path === '/set') {
    if (ctx.query.hold !== undefined) {
      const name = String(ctx.query.hold);
      send({ type: 'held', name });
      await opening(name);
    }
    s[String(ctx.query.k)] = String(ctx.query.v);
  } else if (ctx.path === '/logout') {
    ctx.session = null;
  } else if (ctx.path === '/everywhere') {
    ctx.body = { ended: await ctx.sessionStore.destroySessions(String(s.userId), { except: ctx.sessionId }) };
    return;
  }
  const { cookie: _cookie, ...fields } = ctx.session ?? { cookie: undefined };
  ctx.body = { sid: ctx.sessionId, fields };
});

await once(store, 'connect');
while (store.cacheStats()?.tracking !== true) await new Promise((resolve) => setTimeout(resolve, 5));
const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
send({ type: 'ready', port: (server.address() as AddressInfo).port });

async function stop(): Promise<void> {
  server.close();
  server.closeAllConnections();
  await store.quit();
  process.disconnect();
}
