// Changes lost when one visitor sends 10 requests at once, each setting a
// different top-level key of the same session (several tabs, an XHR burst).
// Every contender runs the same app: the handler loads the session, waits
// 0-5 ms (a database call), sets its own key. Afterwards the session is read
// back and the keys that are missing are counted. Not a timing measurement:
// the apps run in this process, each on its own 127.0.0.1 port.
//
//   node benchmark/lost-updates.mjs [--rounds 10] [--parallel 10] [--out benchmark/results]
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import { startRedis } from './redis.mjs';
import { libDir } from './contenders.mjs';
const require = createRequire(import.meta.url);
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const ROUNDS = Number(args.rounds ?? 10);
const PARALLEL = Number(args.parallel ?? 10);
const OUT = resolve(args.out ?? 'benchmark/results');

const lib = await import(pathToFileURL(resolve(libDir(), 'index.js')).href);
const { RedisStore } = await import(pathToFileURL(resolve(libDir(), 'store/redis.js')).href);

const pause = () => new Promise((r) => setTimeout(r, Math.random() * 5));

/** The same routes for every contender; `get` returns the session (awaiting it where the contender defers). */
function routes(get) {
  return async (ctx) => {
    const session = await get(ctx);
    if (ctx.path === '/login') session.user = 'bench';
    else if (ctx.path === '/set') {
      await pause();
      session[String(ctx.query.k)] = true;
    }
    ctx.body = JSON.stringify(session);
  };
}

function app(use) {
  const koa = new Koa();
  koa.keys = ['lost updates key'];
  koa.silent = true;
  use(koa);
  return koa;
}

function contenders(redisUrl) {
  const kgs = require('koa-generic-session');
  const koaRedis = require('koa-redis');
  const koaSession = require('koa-session');
  const Redis = require('ioredis');
  const eager = (ctx) => ctx.session;
  return [
    {
      id: 'ours-memory',
      label: 'koa-generic-session-ts, MemoryStore',
      make: () => app((k) => k.use(lib.session({ store: new lib.MemoryStore() })).use(routes(eager))),
    },
    {
      id: 'ours-redis',
      label: 'koa-generic-session-ts, RedisStore',
      make: () => {
        const store = new RedisStore({ url: redisUrl });
        return { koa: app((k) => k.use(lib.session({ store })).use(routes(eager))), close: () => store.quit() };
      },
    },
    {
      id: 'ours-redis-nomerge',
      label: 'koa-generic-session-ts, RedisStore, merge: false',
      make: () => {
        const store = new RedisStore({ url: redisUrl });
        return { koa: app((k) => k.use(lib.session({ store, merge: false })).use(routes(eager))), close: () => store.quit() };
      },
    },
    {
      id: 'kgs-memory',
      label: 'koa-generic-session 2.3.1, its MemoryStore',
      note: 'its MemoryStore hands every request the same object, so nothing is lost in one process (and sessionSave = false cannot undo a change)',
      make: () => app((k) => k.use(kgs({ store: new kgs.MemoryStore() })).use(routes(eager))),
    },
    {
      id: 'kgs-redis',
      label: 'koa-generic-session 2.3.1 + koa-redis 4',
      make: () => {
        const store = koaRedis({ url: redisUrl });
        // koa-generic-session 2.3.1 turns the disconnect of quit() into an unhandled rejection
        // reconnectTimeout later, which ends Node 20: its client is left to process.exit() below
        return { koa: app((k) => k.use(kgs({ store })).use(routes(eager))), close: () => undefined, client: store.client };
      },
    },
    {
      id: 'koa-session-cookie',
      label: 'koa-session 7, cookie',
      make: () => app((k) => k.use(koaSession.default({ maxAge: 86_400_000 }, k)).use(routes(eager))),
    },
    {
      id: 'koa-session-redis',
      label: 'koa-session 7 + ioredis store',
      make: () => {
        const redis = new Redis(redisUrl);
        const store = {
          get: async (key) => {
            const value = await redis.get(key);
            return value === null ? undefined : JSON.parse(value);
          },
          set: async (key, sess, maxAge) => void (await redis.set(key, JSON.stringify(sess), 'PX', maxAge)),
          destroy: async (key) => void (await redis.del(key)),
        };
        return { koa: app((k) => k.use(koaSession.default({ maxAge: 86_400_000, store }, k)).use(routes(eager))), close: () => redis.quit() };
      },
    },
  ];
}

/** A cookie jar as a browser keeps it: each Set-Cookie replaces its name, in the order responses arrive. */
class Jar {
  #cookies = new Map();
  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0];
      const name = pair.slice(0, pair.indexOf('='));
      if (/expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, pair);
    }
  }
  get header() {
    return [...this.#cookies.values()].join('; ');
  }
}

async function measure(koa) {
  const server = createServer(koa.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  const lost = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const jar = new Jar();
      jar.take(await fetch(`${base}/login`));
      const cookie = jar.header;
      await Promise.all(
        Array.from({ length: PARALLEL }, async (_, i) => {
          const res = await fetch(`${base}/set?k=key${i}`, { headers: { cookie } });
          await res.text();
          jar.take(res);
        }),
      );
      const final = JSON.parse(await (await fetch(`${base}/`, { headers: { cookie: jar.header } })).text());
      lost.push(Array.from({ length: PARALLEL }, (_, i) => final[`key${i}`] === true).filter((kept) => !kept).length);
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
  return lost;
}

const redis = await startRedis();
const results = [];
try {
  for (const contender of contenders(redis.url)) {
    const made = contender.make();
    const { koa, close } = made instanceof Koa ? { koa: made, close: undefined } : made;
    const lost = await measure(koa);
    await close?.();
    const sorted = [...lost].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    results.push({ id: contender.id, label: contender.label, note: contender.note, parallel: PARALLEL, rounds: ROUNDS, lost, median, min: sorted[0], max: sorted.at(-1) });
    console.log(`${contender.label.padEnd(52)} lost ${median} of ${PARALLEL} (median; ${sorted[0]}-${sorted.at(-1)} over ${ROUNDS} rounds)`);
  }
} finally {
  await redis.stop();
}

mkdirSync(OUT, { recursive: true });
writeFileSync(resolve(OUT, 'lost-updates.json'), JSON.stringify({ parallel: PARALLEL, rounds: ROUNDS, results }, null, 2) + '\n');
const md = [
  `| contender | changes lost of ${PARALLEL} (median, min-max over ${ROUNDS} rounds) |`,
  '| --- | --- |',
  ...results.map((r) => `| ${r.label}${r.note ? ` (${r.note})` : ''} | ${r.median} (${r.min}-${r.max}) |`),
].join('\n');
writeFileSync(resolve(OUT, 'lost-updates.md'), md + '\n');
process.exit(0);
