// One memory check, in its own process (forked by memory.mjs with --expose-gc).
// It builds a contender's app from benchmark/servers/ and injects requests into
// app.callback() in-process, through real http.IncomingMessage and
// ServerResponse objects with no socket: the middleware and the store do all
// their per-request work, and the heap holds only what they keep. Ten requests
// are in flight at a time, and the event loop turns every few requests so that
// timers (the store's sweep) run as they would under real traffic.
//   BENCH_SERVER    servers/<file>
//   BENCH_WORKLOAD  new | read | change | untouched | rolling
//   BENCH_REQUESTS  how many requests
//   BENCH_TTL, BENCH_SWEEP and the server's own variables (BENCH_REDIS_URL and BENCH_CACHE for RedisStore's cache)
import http from 'node:http';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { captureServe } from './servers/common.mjs';

const PLANS = {
  new: { path: '/new', returning: false, check: (b) => b === 'created' },
  read: { path: '/read', returning: true, check: (b) => b === 'hello bench' },
  change: { path: '/change', returning: true, check: (b) => /^[1-9][0-9]*$/.test(b) },
  untouched: { path: '/untouched', returning: true, check: (b) => b === 'ok' },
  rolling: { path: '/read', returning: true, check: (b) => b === 'hello bench' },
};
const LANES = 10;
const POOL = Number(process.env.BENCH_POOL ?? 32);
/** Returning visitors log in again this often (ms), well within the ttl, so their sessions stay alive. */
const RELOGIN_MS = 200;

const plan = PLANS[process.env.BENCH_WORKLOAD];
if (!plan) throw new Error(`unknown BENCH_WORKLOAD ${process.env.BENCH_WORKLOAD}`);
const total = Number(process.env.BENCH_REQUESTS);
const ttl = Number(process.env.BENCH_TTL);
const sweep = Number(process.env.BENCH_SWEEP);
if (typeof globalThis.gc !== 'function') throw new Error('memory-worker.mjs needs --expose-gc');

let captured;
captureServe((hooks) => (captured = hooks));
await import('./servers/' + process.env.BENCH_SERVER);
if (captured === undefined) throw new Error(`servers/${process.env.BENCH_SERVER} did not call serve()`);
const { app, probe, stats, close } = captured;
const handle = app.callback();
const socket = new Socket(); // never connected: only read for req.socket.encrypted and the like

async function inject(path, cookie) {
  const req = new http.IncomingMessage(socket);
  req.method = 'GET';
  req.url = path;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  req.headers = cookie ? { host: '127.0.0.1', cookie } : { host: '127.0.0.1' };
  const res = new http.ServerResponse(req);
  let body;
  const end = res.end;
  res.end = function capture(chunk, ...rest) {
    body = chunk;
    return end.call(this, chunk, ...rest);
  };
  await handle(req, res);
  return { status: res.statusCode, body: body === undefined ? '' : String(body), setCookie: res.getHeader('set-cookie') };
}

function cookieHeader(setCookie) {
  const lines = Array.isArray(setCookie) ? setCookie : setCookie ? [String(setCookie)] : [];
  return lines
    .filter((line) => !/expires=Thu, 01 Jan 1970/i.test(line))
    .map((line) => line.split(';', 1)[0])
    .join('; ');
}

async function login() {
  const cookies = [];
  for (let i = 0; i < POOL; i++) {
    const r = await inject('/login');
    if (r.status !== 200) throw new Error(`/login answered ${r.status}`);
    cookies.push(cookieHeader(r.setCookie));
  }
  return cookies;
}

/** Sends `count` requests, ten at a time; returns how many failed or answered wrongly. */
async function load(count) {
  let cookies = plan.returning ? await login() : undefined;
  let loggedInAt = Date.now();
  let refreshing;
  let started = 0;
  let failed = 0;
  let next = 0;
  async function lane() {
    let sinceYield = 0;
    while (started < count) {
      started++;
      if (plan.returning && refreshing === undefined && Date.now() - loggedInAt > RELOGIN_MS) {
        refreshing = login().then((fresh) => {
          cookies = fresh;
          loggedInAt = Date.now();
          refreshing = undefined;
        });
      }
      const cookie = cookies ? cookies[next++ % cookies.length] : undefined;
      const r = await inject(plan.path, cookie);
      if (r.status !== 200 || !plan.check(r.body)) failed++;
      if (++sinceYield === 20) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
  await Promise.all(Array.from({ length: LANES }, lane));
  await refreshing;
  return failed;
}

async function heap() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  // a RedisStore's cache counters (hits, evictions, invalidations...), when it has one
  const { cache } = stats();
  return { heapUsed: process.memoryUsage().heapUsed, sessions: (await probe()).sessions, ...(cache ? { cache } : {}) };
}

const expire = () => sleep(ttl + 2 * sweep + 50);

/**
 * RedisStore's cache frees a session when Redis reports its key expired (or
 * at its own sweep, every 30 s): wait for that, and say how long past the
 * run it took. Redis expires keys in the background, a little after their ttl.
 */
async function cacheEmptied(since) {
  const deadline = since + ttl + 35_000;
  while ((await probe()).sessions > 0 && Date.now() < deadline) await sleep(20);
  return Date.now() - since;
}

// warm up (JIT, caches), then let the warm-up's sessions expire
await load(Math.min(5000, total));
await expire();
if (process.env.BENCH_CACHE) await cacheEmptied(Date.now());
const before = await heap();
const started = process.hrtime.bigint();
const failed = await load(total);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const after = await heap();
const ended = Date.now();
const emptiedAfterMs = process.env.BENCH_CACHE ? await cacheEmptied(ended) : undefined;
if (emptiedAfterMs === undefined) await expire();
const expired = await heap();
await close();
process.send({ type: 'result', requests: total, failed, seconds, before, after, expired, emptiedAfterMs }, () => process.exit(0));
