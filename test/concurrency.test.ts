import { expect } from 'chai';
import Koa from 'koa';
import session, { MemoryStore, type Session, type SessionStore } from '../lib/index.js';
import { listen } from './support/hostile.js';
import { RecordingStore } from './support/stores.js';

/**
 * What this package guarantees for concurrent requests on one session: each
 * request loads the whole session and saves the whole session, so the last
 * save wins and changes made by overlapping requests are lost. Sequential
 * requests lose nothing. These tests measure the loss rather than hide it.
 */

const N = 50;

interface Measurement {
  sent: number;
  kept: number;
  lost: number;
}

async function measure(options: { store: SessionStore; handlerDelayMs: number; concurrent: boolean }): Promise<Measurement> {
  const koa = new Koa();
  koa.keys = ['test key one'];
  koa.silent = true;
  const errors: Error[] = [];
  koa.on('error', (err: Error) => errors.push(err));
  koa.use(session({ store: options.store }));
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
    // fields that survived kept their values, and the untouched field is never lost
    expect(final.user).to.equal('ann');
    return { sent: N, kept: final.fields, lost: N - final.fields };
  } finally {
    await server.close();
  }
}

function report(label: string, m: Measurement): void {
  // the figure the README's Guarantees section quotes; printed so every run shows it
  console.log(`      concurrency (${label}): ${m.sent} changes to different fields, ${m.kept} kept, ${m.lost} lost`);
}

describe('concurrent requests on one session (last write wins)', () => {
  it('sequential requests lose no change', async () => {
    const m = await measure({ store: new MemoryStore(), handlerDelayMs: 5, concurrent: false });
    report('sequential, 0-5 ms handler', m);
    expect(m.lost).to.equal(0);
  });

  for (const [label, store, delay] of [
    ['concurrent, synchronous store, synchronous handler', () => new MemoryStore(), 0],
    ['concurrent, synchronous store, 0-5 ms handler', () => new MemoryStore(), 5],
    ['concurrent, asynchronous store, 0-5 ms handler', () => new RecordingStore(), 5],
  ] as const) {
    it(`${label}: the number of lost changes is measured and reported`, async () => {
      const m = await measure({ store: store(), handlerDelayMs: delay, concurrent: true });
      report(label, m);
      expect(m.kept + m.lost).to.equal(N);
      // at least the last save survives whole: a session is never left empty or torn
      expect(m.kept).to.be.within(1, N);
    });
  }
});
