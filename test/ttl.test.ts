import { expect } from 'chai';
import request from 'supertest';
import { app } from './support/app.js';
import { RecordingStore } from './support/stores.js';
import type { SessionOptions } from '../lib/index.js';

async function savedTtl(options: SessionOptions, mutate?: (s: Record<string, unknown>) => void) {
  const store = new RecordingStore();
  const koa = app({ store, ...options }, (ctx) => {
    ctx.session!.x = 1;
    mutate?.(ctx.session as Record<string, unknown>);
    ctx.body = 'ok';
  });
  await request(koa.callback()).get('/');
  return store;
}

describe('ttl', () => {
  it('defaults to cookie.maxAge', async () => {
    const store = await savedTtl({ cookie: { maxAge: 1234 } });
    expect(store.calls).to.deep.equal([{ op: 'set', key: store.calls[0]!.key, ttl: 1234 }]);
  });

  it('prefers cookie.expires over cookie.maxAge', async () => {
    const store = await savedTtl({}, (s) => {
      (s.cookie as Record<string, unknown>).expires = new Date(Date.now() + 60_000);
    });
    expect(store.calls[0]!.ttl).to.be.within(59_000, 60_000);
  });

  it('uses a number ttl option', async () => {
    expect((await savedTtl({ ttl: 5000 })).calls[0]!.ttl).to.equal(5000);
  });

  it('calls a ttl function with the session', async () => {
    const store = await savedTtl({ ttl: (s) => (s.x === 1 ? 7000 : 1) });
    expect(store.calls[0]!.ttl).to.equal(7000);
  });

  it('has no ttl for a browser-session cookie', async () => {
    const store = await savedTtl({ cookie: { maxAge: null } });
    expect(store.calls[0]!.ttl).to.equal(undefined);
  });

  it('takes a ttl of 0 (or a function returning 0, false or NaN) to mean "from the cookie", as koa-generic-session does', async () => {
    for (const ttl of [0, () => 0, () => false as never, () => NaN]) {
      const store = await savedTtl({ ttl, cookie: { maxAge: 4321 } });
      expect(store.calls).to.deep.equal([{ op: 'set', key: store.calls[0]!.key, ttl: 4321 }]);
    }
  });

  it('removes the session instead of writing it when the ttl is below 0', async () => {
    expect((await savedTtl({ ttl: () => -5 })).ops()).to.deep.equal(['destroy']);
    const expired = await savedTtl({}, (s) => {
      (s.cookie as Record<string, unknown>).expires = new Date(Date.now() - 1000);
    });
    expect(expired.ops()).to.deep.equal(['destroy']);
  });

  it('reports a ttl function that returns a non-number through errorHandler as a set error', async () => {
    const seen: Array<[unknown, string]> = [];
    const store = new RecordingStore();
    const koa = app(
      { store, ttl: (() => 'soon') as never, errorHandler: (err, type) => seen.push([err, type]) },
      (ctx) => {
        ctx.session!.x = 1;
        ctx.body = 'ok';
      },
    );
    await request(koa.callback()).get('/');
    expect(seen).to.have.length(1);
    expect(seen[0]![0]).to.be.instanceOf(TypeError);
    expect(seen[0]![1]).to.equal('set');
  });
});
