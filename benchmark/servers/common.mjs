// What every contender's server shares: the routes of the workloads, the
// listen-and-report handshake with the runner, and the runner's probes.
//
// A server is started with fork() and these variables:
//   BENCH_VARIANT   'plain' | 'rolling' | 'rolling-renew' | 'hashed' | 'defer'   ('defer': the untouched route,
//                   in defer mode where the contender has one)
//   BENCH_REDIS_URL the runner's redis-server (Redis contenders only)
//   BENCH_LIB       the built package (default dist/cjs/lib)
//   BENCH_TTL       store ttl in ms (memory check only)
//   BENCH_CACHE     RedisStore's cache (servers/ours.mjs)
import Koa from 'koa';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

export const KEYS = ['benchmark key one', 'benchmark key two'];
export const USER_NAME = 'bench';
/** The body of /read for a returning visitor whose session loaded. */
export const READ_BODY = 'hello ' + USER_NAME;

export const variant = process.env.BENCH_VARIANT ?? 'plain';
export const rolling = variant === 'rolling';
/** 'rolling-renew': this package's `rolling: { renewAfter }`, one minute (a run renews each visitor about once). */
export const renewAfter = variant === 'rolling-renew' ? 60_000 : undefined;
/** 'hashed': this package's `hashIds: true`. */
export const hashIds = variant === 'hashed';
export const deferVariant = variant === 'defer';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The runner's redis-server. Without it a client would fall back to
 * 127.0.0.1:6379, which may be someone else's Redis: refuse to start instead.
 */
export function benchRedisUrl() {
  const url = process.env.BENCH_REDIS_URL;
  if (!url) throw new Error('BENCH_REDIS_URL must name the redis-server the benchmark runner started');
  return url;
}

/** Imports a module of the built package (dist/cjs/lib/<path>). */
export function importLib(path) {
  const lib = resolve(process.env.BENCH_LIB ?? resolve(root, 'dist/cjs/lib'));
  return import(pathToFileURL(resolve(lib, path)).href);
}

export function newApp() {
  const app = new Koa();
  app.keys = KEYS;
  app.silent = true;
  return app;
}

let loginCount = 0;

/**
 * The workload routes, for a contender whose `ctx.session` is the session
 * (eager) or a promise of it (defer: `await ctx.session`).
 *   /login      creates a session with a user: how the runner gets returning visitors' cookies
 *   /new        a new visitor: the request creates a session
 *   /read       a returning visitor who only reads
 *   /change     a returning visitor who changes the session
 *   /untouched  a route that never touches the session
 */
export function routes({ defer }) {
  if (defer) {
    return async function routesDefer(ctx) {
      switch (ctx.path) {
        case '/read': {
          const session = await ctx.session;
          ctx.body = 'hello ' + (session.user?.name ?? 'anonymous');
          return;
        }
        case '/change': {
          const session = await ctx.session;
          session.views = (session.views ?? 0) + 1;
          ctx.body = String(session.views);
          return;
        }
        case '/new': {
          const session = await ctx.session;
          session.user = { id: 0, name: USER_NAME };
          ctx.body = 'created';
          return;
        }
        case '/untouched':
          ctx.body = 'ok';
          return;
        case '/login': {
          const session = await ctx.session;
          session.user = { id: ++loginCount, name: USER_NAME };
          ctx.body = 'logged in';
          return;
        }
        default:
          ctx.status = 404;
      }
    };
  }
  return function routesEager(ctx) {
    switch (ctx.path) {
      case '/read': {
        ctx.body = 'hello ' + (ctx.session.user?.name ?? 'anonymous');
        return;
      }
      case '/change': {
        const session = ctx.session;
        session.views = (session.views ?? 0) + 1;
        ctx.body = String(session.views);
        return;
      }
      case '/new':
        ctx.session.user = { id: 0, name: USER_NAME };
        ctx.body = 'created';
        return;
      case '/untouched':
        ctx.body = 'ok';
        return;
      case '/login':
        ctx.session.user = { id: ++loginCount, name: USER_NAME };
        ctx.body = 'logged in';
        return;
      default:
        ctx.status = 404;
    }
  };
}

let serveHook;

/** benchmark/memory-worker.mjs takes the app instead of letting it listen: it injects requests in-process. */
export function captureServe(hook) {
  serveHook = hook;
}

/**
 * Listens on a free 127.0.0.1 port, tells the runner which, and answers its
 * probes over IPC: 'cpu' (process.cpuUsage), 'heap' (heap after a full GC
 * when --expose-gc is on, plus whatever `probe()` adds), 'stats' (whatever
 * `stats()` reports, such as a store's cache counters). Exits when the runner
 * goes away or asks it to.
 */
export function serve(app, { probe = () => ({}), stats = () => ({}), close = async () => {} } = {}) {
  if (serveHook !== undefined) return serveHook({ app, probe, stats, close });
  const server = app.listen(0, '127.0.0.1', () => {
    process.send({ type: 'listening', port: server.address().port });
  });
  server.keepAliveTimeout = 60_000;
  const shutdown = async () => {
    server.close();
    server.closeAllConnections?.();
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.on('disconnect', shutdown);
  process.on('message', async (message) => {
    if (message?.type === 'cpu') {
      process.send({ type: 'cpu', id: message.id, usage: process.cpuUsage() });
    } else if (message?.type === 'heap') {
      if (typeof globalThis.gc === 'function') {
        // several passes: weak references and finalizers need more than one
        for (let i = 0; i < 3; i++) globalThis.gc();
      }
      const mem = process.memoryUsage();
      process.send({
        type: 'heap',
        id: message.id,
        heapUsed: mem.heapUsed,
        rss: mem.rss,
        gc: typeof globalThis.gc === 'function',
        ...(await probe()),
      });
    } else if (message?.type === 'stats') {
      process.send({ type: 'stats', id: message.id, ...stats() });
    } else if (message?.type === 'stop') {
      await shutdown();
    }
  });
  return server;
}
