/**
 * The app under fault injection, run as its own Node process (started by
 * test/support/load.ts with --expose-gc) so a crash is an exit the test sees,
 * and its memory is the server's alone. Configured by FAULT_CONFIG (JSON,
 * see FaultServerConfig). Prints `listening <port>` once ready.
 *
 * Routes: /w?v=N[&keep=1] writes v into the session; /r reads it; /__stats
 * reports memory, peaks and process-level failures; /__peek?sid= reads the
 * underlying store directly (memory-backed stores).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import session, { MemoryStore, closeOnSignal, type Session, type SessionStore } from '../../lib/index.js';

export interface FaultServerConfig {
  store: 'memory' | 'slow' | 'failing' | 'redis';
  /** RedisStore's port on 127.0.0.1 (store 'redis'). */
  redisPort?: number;
  /** The middleware's reconnectTimeout, ms. */
  reconnectTimeout: number;
  /** Slow store: each call waits a random 0..slowMaxMs. */
  slowMaxMs?: number;
  /** Failing store: the fraction of calls that throw. */
  failRate?: number;
  /** ttl of sessions without `keep`, ms (keep sessions live 10 minutes). Default: none (cookie maxAge). */
  shortTtlMs?: number;
  /** MemoryStore sweepInterval, ms. */
  sweepIntervalMs?: number;
  /** Extra RedisStore options (JSON). */
  redisOptions?: Record<string, unknown>;
  /** SIGTERM runs the package's graceful shutdown (closeOnSignal) and the process must then exit by itself. */
  graceful?: boolean;
}

const config = JSON.parse(process.env.FAULT_CONFIG ?? '{}') as FaultServerConfig;

/* ---- process-level failures, counted rather than fatal so the test can report them ---- */

const failures = { unhandledRejections: 0, uncaughtExceptions: 0, warnings: 0 };
process.on('unhandledRejection', (reason) => {
  failures.unhandledRejections++;
  process.stderr.write(`unhandledRejection: ${String((reason as Error)?.stack ?? reason)}\n`);
});
process.on('uncaughtException', (err) => {
  failures.uncaughtExceptions++;
  process.stderr.write(`uncaughtException: ${String(err?.stack ?? err)}\n`);
});
process.on('warning', (warning) => {
  failures.warnings++;
  process.stderr.write(`warning: ${warning.name}: ${warning.message}\n`);
});

setFlagsFromString('--expose-gc');
const gc = (globalThis as { gc?: () => void }).gc ?? (runInNewContext('gc') as () => void);

/* ---- peaks, sampled every 50 ms ---- */

const peak = { rss: 0, heapUsed: 0, storeSize: 0, loopDelayMs: 0 };
// how late timers (the MemoryStore sweep among them) ran: a busy machine keeps expired sessions longer
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let backing: MemoryStore | undefined;
let storeInvalid = 0;
function sample(): void {
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
  if (backing) peak.storeSize = Math.max(peak.storeSize, backing.size);
  peak.loopDelayMs = Math.max(peak.loopDelayMs, loopDelay.max / 1e6);
}
setInterval(sample, 50).unref();

/* ---- stores ---- */

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** MemoryStore behind a random delay of 0..maxMs on every call. */
class SlowStore implements SessionStore {
  constructor(readonly inner: MemoryStore, readonly maxMs: number) {}
  async get(key: string) {
    await delay(Math.random() * this.maxMs);
    return this.inner.get(key);
  }
  async set(key: string, session: Session, ttl?: number) {
    await delay(Math.random() * this.maxMs);
    this.inner.set(key, session, ttl);
  }
  async destroy(key: string) {
    await delay(Math.random() * this.maxMs);
    this.inner.destroy(key);
  }
}

export class StoreFault extends Error {
  readonly code = 'ESTOREFAULT';
}

/** MemoryStore whose calls throw (before doing anything) with probability `rate`. */
class FailingStore implements SessionStore {
  constructor(readonly inner: MemoryStore, readonly rate: number) {}
  #maybeFail(op: string): void {
    if (Math.random() < this.rate) throw new StoreFault(`injected ${op} failure`);
  }
  async get(key: string) {
    this.#maybeFail('get');
    return this.inner.get(key);
  }
  async set(key: string, session: Session, ttl?: number) {
    this.#maybeFail('set');
    this.inner.set(key, session, ttl);
  }
  async destroy(key: string) {
    this.#maybeFail('destroy');
    this.inner.destroy(key);
  }
}

async function makeStore(): Promise<SessionStore> {
  if (config.store === 'redis') {
    const { RedisStore } = (await import('../../lib/store/redis.js')) as {
      RedisStore: new (options: Record<string, unknown>) => SessionStore;
    };
    // a url without a real port would send ioredis to 127.0.0.1:6379, which tests never touch
    if (!Number.isInteger(config.redisPort)) throw new Error('fault server: store "redis" needs the redisPort of the test\'s redis-server');
    const redis = new RedisStore({ url: `redis://127.0.0.1:${String(config.redisPort)}`, ...config.redisOptions });
    (redis as unknown as NodeJS.EventEmitter).on('invalid', () => storeInvalid++);
    return redis;
  }
  backing = new MemoryStore(config.sweepIntervalMs === undefined ? {} : { sweepInterval: config.sweepIntervalMs });
  if (config.store === 'slow') return new SlowStore(backing, config.slowMaxMs ?? 500);
  if (config.store === 'failing') return new FailingStore(backing, config.failRate ?? 0.1);
  return backing;
}

/* ---- the app ---- */

const store = await makeStore();
const shortTtl = config.shortTtlMs;
const middleware = session({
  store,
  reconnectTimeout: config.reconnectTimeout,
  ...(shortTtl === undefined ? {} : { ttl: (s: Session) => (s.keep === true ? 600_000 : shortTtl) }),
});
const statuses: string[] = [];
middleware.on('status', (status) => statuses.push(`${Date.now()} ${status}`));

const app = new Koa();
app.keys = ['fault injection key'];
app.silent = true;

// the error mapping an app puts in front: the documented failures become 503 with their code
app.use(async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : undefined;
    const name = typeof e.name === 'string' ? e.name : 'Error';
    // the default errorHandler renames store errors 'koa-generic-session <get|set|destroy> error'
    const storeError = /^koa-generic-session (get|set|destroy) error$/.test(name);
    ctx.status = code === 'ERR_SESSION_STORE_UNAVAILABLE' || storeError ? 503 : 500;
    ctx.body = { error: storeError ? name : (code ?? name), code, name, message: String(e.message ?? err) };
  }
});

app.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/__')) return next();
  if (ctx.path === '/__stats') {
    if (ctx.query.gc === '1') {
      // a few rounds: weak refs and finalizers free more on the second pass
      for (let i = 0; i < 3; i++) {
        gc();
        await delay(10);
      }
    }
    sample();
    const m = process.memoryUsage();
    ctx.body = { ...failures, storeInvalid, rss: m.rss, heapUsed: m.heapUsed, peak, storeSize: backing?.size ?? null, status: middleware.status, statuses };
    if (ctx.query.resetPeaks === '1') {
      Object.assign(peak, { rss: 0, heapUsed: 0, storeSize: 0, loopDelayMs: 0 });
      loopDelay.reset();
    }
    return;
  }
  if (ctx.path === '/__peek') {
    if (backing === undefined) return ctx.throw(404, 'no memory-backed store');
    ctx.body = { session: backing.get('koa:sess:' + String(ctx.query.sid)) };
    return;
  }
  return next();
});

app.use(middleware);

app.use((ctx) => {
  const s = ctx.session as Session;
  if (ctx.path === '/w') {
    s.v = Number(ctx.query.v);
    if (ctx.query.keep === '1') s.keep = true;
    s.pad = 'p'.repeat(64);
  } else if (ctx.path !== '/r') {
    ctx.throw(404);
  }
  ctx.body = { sid: ctx.sessionId, v: s.v ?? null };
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
server.keepAliveTimeout = 30_000;

if (config.graceful === true) {
  // nothing else may hold the process: it exits by itself once shutdown() is done
  closeOnSignal(server, middleware, {
    timeout: 5000,
    signals: ['SIGTERM'],
    onClosed: (err) => {
      if (err !== undefined) {
        process.stderr.write(`shutdown failed: ${String((err as Error)?.stack ?? err)}\n`);
        process.exitCode = 1;
      }
      process.stdout.write('closed\n');
    },
  });
} else {
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    void middleware.close({ timeout: 2000 }).then(() => process.exit(0));
  });
}
