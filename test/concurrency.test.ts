import { expect } from 'chai';
import { once } from 'node:events';
import Koa from 'koa';
import session, { MemoryStore, type Session, type SessionStore } from '../lib/index.js';
import { RedisStore } from '../lib/store/redis.js';
import { listen } from './support/hostile.js';
import { RedisServer, stopAllRedis } from './support/redis.js';
import { RecordingStore } from './support/stores.js';

/**
 * What this package guarantees for concurrent requests on one session. With a
 * store that has `merge()` (MemoryStore) and the default `merge: true`, a save
 * sends only the top-level keys the request changed, applied atomically: the
 * changes of overlapping requests to different keys are all kept. With a store
 * without `merge()`, or `merge: false`, each request saves the whole session
 * it loaded: the last save wins and overlapping changes are lost. Sequential
 * requests lose nothing either way. These tests measure the loss rather than
 * hide it, and print the figures.
 */

const N = 50;

interface Measurement {
  sent: number;
  /** Changes the app reads back through the middleware. */
  kept: number;
  /** Changes missing from what the store itself holds, counted apart from `kept`. */
  lost: number;
}

/** What the store holds under `key`, read around the middleware (for Redis: straight from the server). */
type Peek = (key: string) => Promise<Record<string, unknown> | null>;

const peekStore = (store: MemoryStore | RecordingStore): Peek => async (key) => {
  if (store instanceof MemoryStore) return store.get(key) as Record<string, unknown> | null;
  const text = store.data.get(key);
  return text === undefined ? null : (JSON.parse(text) as Record<string, unknown>);
};

async function measure(options: { store: SessionStore; peek: Peek; handlerDelayMs: number; concurrent: boolean; merge?: boolean }): Promise<Measurement> {
  const koa = new Koa();
  koa.keys = ['test key one'];
  koa.silent = true;
  const errors: Error[] = [];
  koa.on('error', (err: Error) => errors.push(err));
  koa.use(session({ store: options.store, merge: options.merge ?? true }));
  koa.use(async (ctx) => {
    const s = ctx.session as Session;
    if (ctx.path === '/login') {
      s.user = 'ann';
    } else if (ctx.path === '/change') {
      // the app's own I/O (a database call) between the session load and its save
      if (options.handlerDelayMs > 0) await new Promise((r) => setTimeout(r, Math.random() * options.handlerDelayMs));
      s[`field${String(ctx.query.i)}`] = Number(ctx.query.i);
    }
    ctx.body = { user: s.user ?? null, fields: Object.keys(s).filter((k) => k.startsWith('field')).length };
  });
  const server = await listen(koa);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const login = await fetch(`${base}/login`);
    const cookie = login.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
    const change = async (i: number) => {
      const res = await fetch(`${base}/change?i=${i}`, { headers: { cookie } });
      expect(res.status).to.equal(200);
      await res.arrayBuffer();
    };
    if (options.concurrent) {
      await Promise.all(Array.from({ length: N }, (_, i) => change(i)));
    } else {
      for (let i = 0; i < N; i++) await change(i);
    }
    const final = (await (await fetch(`${base}/`, { headers: { cookie } })).json()) as { user: string | null; fields: number };
    expect(errors).to.deep.equal([]);
    expect(final.user).to.equal('ann');
    // counted again from the store's own content: each change is there with its value, or lost
    const sid = /koa\.sid=([^;]+)/.exec(cookie)![1]!;
    const stored = (await options.peek(`koa:sess:${sid}`))!;
    expect(stored.user, 'the untouched field').to.equal('ann');
    let lost = 0;
    for (let i = 0; i < N; i++) {
      if (!(`field${i}` in stored)) lost++;
      else expect(stored[`field${i}`], `field${i}`).to.equal(i);
    }
    expect(Object.keys(stored).filter((k) => k.startsWith('field')).length, 'fields the store holds').to.equal(N - lost);
    return { sent: N, kept: final.fields, lost };
  } finally {
    await server.close();
  }
}

function report(label: string, m: Measurement): void {
  // the figure the README's Guarantees section quotes; printed so every run shows it
  console.log(`      concurrency (${label}): ${m.sent} changes to different fields, ${m.kept} kept, ${m.lost} lost`);
}

describe('concurrent requests on one session', () => {
  after(stopAllRedis);

  it('sequential requests lose no change (whole-session saves)', async () => {
    const store = new MemoryStore();
    const m = await measure({ store, peek: peekStore(store), handlerDelayMs: 5, concurrent: false, merge: false });
    report('sequential, merge: false, 0-5 ms handler', m);
    expect(m.lost).to.equal(0);
    expect(m.kept).to.equal(N);
  });

  it('MemoryStore with merge (the default): overlapping changes to different keys are all kept', async () => {
    const store = new MemoryStore();
    const m = await measure({ store, peek: peekStore(store), handlerDelayMs: 5, concurrent: true });
    report('concurrent, MemoryStore, merge, 0-5 ms handler', m);
    expect(m.lost).to.equal(0);
    expect(m.kept).to.equal(N);
  });

  for (const [label, store, delay, merge] of [
    ['concurrent, MemoryStore, merge: false, no await in the handler', () => new MemoryStore(), 0, false],
    ['concurrent, MemoryStore, merge: false, 0-5 ms handler', () => new MemoryStore(), 5, false],
    ['concurrent, a store without merge(), 0-5 ms handler', () => new RecordingStore(), 5, true],
  ] as const) {
    it(`${label}: last write wins; the lost changes are measured and reported`, async () => {
      const s = store();
      const m = await measure({ store: s, peek: peekStore(s), handlerDelayMs: delay, concurrent: true, merge });
      report(label, m);
      // what the app reads back is what the store holds
      expect(m.kept + m.lost).to.equal(N);
      // at least the last save survives whole: a session is never left empty or torn
      expect(m.kept).to.be.within(1, N);
    });
  }

  it('RedisStore, 0-5 ms handler: measured and reported (no loss once the store merges)', async () => {
    const redis = await RedisServer.start({ label: 'concurrency' });
    const store = new RedisStore({ url: redis.url });
    try {
      await once(store, 'connect');
      const peek: Peek = async (key) => {
        const text = (await redis.command('GET', key)) as string | null;
        return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
      };
      const m = await measure({ store, peek, handlerDelayMs: 5, concurrent: true });
      const merges = typeof (store as { merge?: unknown }).merge === 'function';
      report(`concurrent, RedisStore${merges ? ' (merge)' : ' (no merge(): whole-session saves)'}, 0-5 ms handler`, m);
      // what the app reads back is what Redis holds
      expect(m.kept + m.lost).to.equal(N);
      if (merges) expect(m.lost).to.equal(0);
      else expect(m.kept).to.be.within(1, N);
    } finally {
      await store.quit();
      await redis.remove();
    }
  });
});
