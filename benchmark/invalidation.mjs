// How long another process may serve a session from its cache after a change:
// the time from one process's write reply until a second process's RedisStore
// reports the key invalidated (its `cacheInvalidate` event), which is when it
// stops answering reads from its cache. Until then it may serve the old session.
//
// Two processes, each with a RedisStore with `cache: true`, on a redis-server of
// this script's own. Per sample: the holder reads the session (a miss, so it
// caches it and Redis tracks the key for it) and checks a second read is a hit;
// then the writer saves the session, and notes the time its `set` resolves;
// the holder notes the time its `cacheInvalidate` event names the key.
// Both read process.hrtime (CLOCK_MONOTONIC: one clock for every process of
// a Linux host, unaffected by wall-clock adjustments, in ns).
//
//   node benchmark/invalidation.mjs [--samples 1000] [--json]
// It also prints the time from the writer calling `set` to the invalidation:
// the window in which a read in the other process may be served the old
// session while the change is under way.
// A negative delay is an invalidation that reached the holder before the
// writer had taken its own reply: Redis sends both at once.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { libDir } from './contenders.mjs';
import { median, parseArgs } from './harness.mjs';
import { startRedis } from './redis.mjs';

const KEY = 'koa:sess:invalidation-bench';
const TTL = 60_000;
/** A sample whose invalidation does not arrive within this long fails the run: the cache would be serving a stale session. */
const WAIT_MS = 5000;

if (process.env.BENCH_INVALIDATION_ROLE) await child(process.env.BENCH_INVALIDATION_ROLE);
else if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const samples = Number(args.samples ?? 1000);
  if (!(Number.isInteger(samples) && samples >= 1)) throw new Error(`--samples must be a whole number above 0, got ${args.samples}`);
  const result = await measureInvalidation({ samples, log: args.json ? () => {} : console.log });
  if (args.json) console.log(JSON.stringify(result));
  else console.log(formatInvalidation(result));
}

/** Runs the two processes for `samples` changes; resolves { samples, delaysMs (sorted), median, p99, max, min }. */
export async function measureInvalidation({ samples = 1000, log = () => {} } = {}) {
  const redis = await startRedis();
  const children = [];
  try {
    const holder = await startChild('holder', redis.url);
    children.push(holder);
    const writer = await startChild('writer', redis.url);
    children.push(writer);
    log(`redis-server pid ${redis.pid}; holder pid ${holder.pid}, writer pid ${writer.pid}`);
    await writer.ask({ type: 'write', n: 0 });
    const delays = [];
    const sinceSent = [];
    for (let n = 1; n <= samples; n++) {
      await holder.ask({ type: 'hold' });
      const invalidated = holder.next('invalidated');
      const written = await writer.ask({ type: 'write', n });
      const { at } = await withTimeout(invalidated, WAIT_MS, `sample ${n}: no invalidation within ${WAIT_MS} ms of the write`);
      delays.push(Number(BigInt(at) - BigInt(written.at)) / 1e6);
      sinceSent.push(Number(BigInt(at) - BigInt(written.sentAt)) / 1e6);
    }
    const stats = await holder.ask({ type: 'stats' });
    if (stats.cache.flushes > 0) throw new Error(`the holder's cache was flushed ${stats.cache.flushes} times: samples are not comparable`);
    return { samples, ...summary(delays), sinceSent: summary(sinceSent) };
  } finally {
    for (const c of children) await c.stop();
    await redis.stop();
  }
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    delaysMs: sorted,
    median: median(sorted),
    p99: sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)],
    max: sorted.at(-1),
    min: sorted[0],
  };
}

export function formatInvalidation(r) {
  const ms = (x) => `${x.toFixed(3)} ms`;
  const line = (s) => `median ${ms(s.median)}, p99 ${ms(s.p99)}, max ${ms(s.max)} (min ${ms(s.min)})`;
  return (
    `${r.samples} samples\n` +
    `write reply → other process's cacheInvalidate: ${line(r)}\n` +
    `write sent  → other process's cacheInvalidate: ${line(r.sinceSent)}`
  );
}

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Forks this file as `role`; resolves once its store's cache is tracking. */
async function startChild(role, url) {
  const child = fork(new URL(import.meta.url), [], {
    env: { ...process.env, BENCH_INVALIDATION_ROLE: role, BENCH_REDIS_URL: url, BENCH_LIB: libDir() },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  process.on('exit', kill);
  const exited = once(child, 'exit');
  const waiting = new Map();
  child.on('message', (message) => {
    const waiter = waiting.get(message?.type);
    if (waiter) {
      waiting.delete(message.type);
      waiter.resolve(message);
    }
  });
  exited.then(([code, signal]) => {
    for (const waiter of waiting.values()) waiter.reject(new Error(`${role} exited (${signal ?? code}):\n${stderr.trim()}`));
    waiting.clear();
  });
  /** The child's next message of `type`. */
  const next = (type) =>
    new Promise((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`${role} has exited:\n${stderr.trim()}`));
      else waiting.set(type, { resolve, reject });
    });
  const replies = { hold: 'held', write: 'written', stats: 'stats' };
  await withTimeout(next('ready'), 30_000, `${role} did not start tracking within 30 s:\n${stderr}`);
  return {
    pid: child.pid,
    next,
    ask(message) {
      const reply = next(replies[message.type]);
      child.send(message);
      return withTimeout(reply, WAIT_MS, `${role} did not answer ${message.type} within ${WAIT_MS} ms`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.send({ type: 'stop' });
        const timer = setTimeout(kill, 5000);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', kill);
    },
  };
}

/** A process with a cached RedisStore: the writer saves the session, the holder keeps it in its cache. */
async function child(role) {
  const url = process.env.BENCH_REDIS_URL;
  if (!url) throw new Error('BENCH_REDIS_URL must name the redis-server the benchmark started');
  const { RedisStore } = await import(pathToFileURL(`${process.env.BENCH_LIB}/store/redis.js`).href);
  const store = new RedisStore({ url, cache: true });
  const deadline = Date.now() + 20_000;
  while (!store.cacheStats().tracking) {
    const { disabled } = store.cacheStats();
    if (disabled !== undefined) throw new Error(`the cache is off: ${disabled}`);
    if (Date.now() > deadline) throw new Error('the cache did not start tracking within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (role === 'holder') {
    // the first thing done with the event: take the time
    store.on('cacheInvalidate', (keys) => {
      const at = process.hrtime.bigint();
      if (keys.includes(KEY)) process.send({ type: 'invalidated', at: String(at) });
    });
  }
  process.on('message', async (message) => {
    try {
      if (message.type === 'write') {
        const sentAt = process.hrtime.bigint();
        await store.set(KEY, { cookie: { httpOnly: true, path: '/' }, user: { id: 1, name: 'bench' }, n: message.n }, TTL);
        const at = process.hrtime.bigint();
        process.send({ type: 'written', at: String(at), sentAt: String(sentAt) });
      } else if (message.type === 'hold') {
        const first = await store.get(KEY);
        const hits = store.cacheStats().hits;
        const second = await store.get(KEY);
        if (first === null || second === null) throw new Error('the session is not in Redis');
        if (store.cacheStats().hits !== hits + 1) throw new Error('the session read is not held in the cache');
        process.send({ type: 'held' });
      } else if (message.type === 'stats') {
        process.send({ type: 'stats', cache: store.cacheStats() });
      } else if (message.type === 'stop') {
        await store.quit();
        process.exit(0);
      }
    } catch (err) {
      console.error(err);
      process.exit(1);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready' });
}
