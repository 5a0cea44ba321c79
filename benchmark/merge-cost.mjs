// What one RedisStore merge costs Redis, by the path it takes, beside a
// whole-session save, for sessions of several sizes. Redis runs one script at
// a time, so its time per merge is every other client's wait.
//
//   as sent       Redis holds what the request loaded: it stores the session as sent
//   two tries     another write came first: Redis answers what it holds, Node splices, a second try lands
//   Lua splice    the same conflict with a bare patch: the script splices the patch itself (the last resort)
//   set           merge: false, the whole session in one guarded SET
//
// Redis time is `INFO commandstats` usec of EVALSHA (it includes the commands a
// script runs), summed over blocks of operations; the paths alternate block by
// block so drift hits them alike. The writes that set the scene are plain SETs,
// not counted. Not part of npm test: timings are never asserted.
//
//   node benchmark/merge-cost.mjs [--ops 2000] [--out benchmark/results]
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { libDir } from './contenders.mjs';
import { parseArgs, median } from './harness.mjs';
import { redisCommand, startRedis } from './redis.mjs';

const args = parseArgs(process.argv.slice(2));
const OPS = Number(args.ops ?? 2000);
const BLOCK = 50;
const OUT = resolve(args.out ?? 'benchmark/results');

const { RedisStore } = await import(pathToFileURL(resolve(libDir(), 'store/redis.js')).href);
const { sessionChange } = await import(pathToFileURL(resolve(libDir(), 'session.js')).href);

/** A logged-in session with `members` extra top-level members of about 30 bytes each. */
function sessionOf(members) {
  const session = { cookie: { httpOnly: true, path: '/', overwrite: true, signed: true, maxAge: 86400000 }, user: { id: 1, name: 'bench' }, views: 1 };
  for (let i = 0; i < members; i++) session['k' + i] = { some: 'value ' + i, n: i };
  return session;
}

async function evalshaStats(port) {
  const text = await redisCommand(port, 'INFO commandstats');
  const match = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(text);
  return match ? { calls: Number(match[1]), usec: Number(match[2]) } : { calls: 0, usec: 0 };
}

const PATHS = {
  'as sent': async (store, key, loaded, base, changed) => {
    await store.client.set(key, base);
    return () => store.merge(key, sessionChange(base, changed, false, JSON.stringify(changed)), 86_400_000);
  },
  'two tries': async (store, key, loaded, base, changed) => {
    await store.client.set(key, JSON.stringify({ ...loaded, other: 'written meanwhile' }));
    return () => store.merge(key, sessionChange(base, changed, false, JSON.stringify(changed)), 86_400_000);
  },
  'Lua splice': async (store, key, loaded, base, changed) => {
    await store.client.set(key, JSON.stringify({ ...loaded, other: 'written meanwhile' }));
    return () => store.merge(key, { set: { views: changed.views }, unset: [] }, 86_400_000);
  },
  set: async (store, key, loaded, base, changed) => {
    await store.client.set(key, base);
    return () => store.set(key, changed, 86_400_000);
  },
};

const redis = await startRedis();
const store = new RedisStore({ url: redis.url });
const results = [];
try {
  await new Promise((resolve) => store.once('connect', resolve));
  for (const members of [0, 10, 40, 250]) {
    const loaded = sessionOf(members);
    const base = JSON.stringify(loaded);
    const changed = { ...loaded, views: loaded.views + 1 };
    const blocks = Object.fromEntries(Object.keys(PATHS).map((path) => [path, []]));
    for (let done = 0; done < OPS; done += BLOCK) {
      for (const [path, prepare] of Object.entries(PATHS)) {
        let usec = 0;
        let calls = 0;
        for (let i = 0; i < BLOCK; i++) {
          const key = `koa:sess:cost${i}`;
          const run = await prepare(store, key, loaded, base, changed);
          const before = await evalshaStats(redis.port);
          const outcome = await run();
          if (outcome === false) throw new Error(`${path}: the merge found no session`);
          const after = await evalshaStats(redis.port);
          usec += after.usec - before.usec;
          calls += after.calls - before.calls;
        }
        blocks[path].push({ usec: usec / BLOCK, calls: calls / BLOCK });
      }
    }
    for (const [path, list] of Object.entries(blocks)) {
      results.push({
        bytes: base.length,
        path,
        redisMicros: Math.round(median(list.map((b) => b.usec)) * 10) / 10,
        scripts: Math.round(median(list.map((b) => b.calls)) * 100) / 100,
      });
    }
  }
} finally {
  await store.quit();
  await redis.stop();
}

const sizes = [...new Set(results.map((r) => r.bytes))];
const lines = [
  `| path | ${sizes.map((b) => (b < 1024 ? `${b} B` : `${(b / 1024).toFixed(1)} KB`)).join(' | ')} |`,
  `|---|${sizes.map(() => '---:').join('|')}|`,
];
for (const path of Object.keys(PATHS)) {
  const cells = sizes.map((b) => {
    const r = results.find((x) => x.bytes === b && x.path === path);
    return `${r.redisMicros.toFixed(1)} µs${r.scripts === 1 ? '' : ` (${r.scripts} scripts)`}`;
  });
  lines.push(`| ${path} | ${cells.join(' | ')} |`);
}
const table = lines.join('\n') + '\n';
console.log(`Redis time per write (median of blocks of ${BLOCK}, ${OPS} writes per path and size):\n`);
console.log(table);
mkdirSync(OUT, { recursive: true });
writeFileSync(resolve(OUT, 'merge-cost.json'), JSON.stringify({ date: new Date().toISOString(), ops: OPS, results }, null, 2));
writeFileSync(resolve(OUT, 'merge-cost.md'), table);
console.log(`wrote ${resolve(OUT, 'merge-cost.json')} and merge-cost.md`);
