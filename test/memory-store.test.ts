import { expect } from 'chai';
import request from 'supertest';
import { MemoryStore } from '../lib/index.js';
import { app, agent } from './support/app.js';
import type { Session } from '../lib/index.js';
import { runTs } from './support/child.js';

describe('MemoryStore', () => {
  it('stores a copy: a later mutation changes nothing until it is saved', async () => {
    const store = new MemoryStore();
    const s: Session = { cookie: {}, list: [1] };
    store.set('k', s, 1000);
    (s.list as number[]).push(2);
    expect(store.get('k')!.list).to.deep.equal([1]);
    const loaded = store.get('k')!;
    (loaded.list as number[]).push(3);
    expect(store.get('k')!.list).to.deep.equal([1]);
  });

  it('keeps nothing the request did when ctx.sessionSave = false', async () => {
    const store = new MemoryStore();
    const a = agent(
      app({ store }, (ctx) => {
        if (ctx.path === '/save') ctx.session!.n = 1;
        if (ctx.path === '/nosave') {
          ctx.session!.n = 99;
          ctx.sessionSave = false;
        }
        ctx.body = { n: ctx.session!.n };
      }),
    );
    await a.get('/save');
    await a.get('/nosave');
    expect((await a.get('/')).body.n).to.equal(1);
  });

  it('honours the ttl and revives cookie.expires as a Date', () => {
    const store = new MemoryStore();
    const expires = new Date(Date.now() + 5000);
    store.set('live', { cookie: { expires } }, 5000);
    store.set('dead', { cookie: {} }, 1);
    store.set('forever', { cookie: {} });
    const now = Date.now();
    while (Date.now() - now < 3) {
      /* let 1 ms pass */
    }
    expect(store.get('dead')).to.equal(null);
    expect(store.get('live')!.cookie.expires).to.be.instanceOf(Date);
    expect((store.get('live')!.cookie.expires as Date).getTime()).to.equal(expires.getTime());
    expect(store.get('forever')).to.not.equal(null);
  });

  it('sweep() frees expired sessions that nobody reads again', () => {
    const store = new MemoryStore();
    for (let i = 0; i < 100; i++) store.set('k' + i, { cookie: {} }, i < 60 ? 1 : 60_000);
    expect(store.size).to.equal(100);
    expect(store.sweep(Date.now() + 10)).to.equal(60);
    expect(store.size).to.equal(40);
    store.close();
  });

  it('sweeps on its own timer', async () => {
    const store = new MemoryStore({ sweepInterval: 5 });
    store.set('short', { cookie: {} }, 1);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (store.size === 0) {
          clearInterval(poll);
          resolve();
        }
      }, 2);
    });
    expect(store.size).to.equal(0);
    store.close();
  });

  it('never holds the process open', async () => {
    const result = await runTs('fixtures/memory-exit.ts');
    expect(result.stdout).to.equal('stored\n');
    expect(result.code).to.equal(0);
  });

  it('touch() extends a session\'s life without rewriting it', async () => {
    const store = new MemoryStore();
    store.set('k', { cookie: {}, v: 1 }, 40);
    store.touch('k', 60_000);
    // outlive the first ttl
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(store.get('k')!.v).to.equal(1);
  });

  it('validates its options', () => {
    expect(() => new MemoryStore({ sweepInterval: 0 })).to.throw(TypeError, /sweepInterval/);
  });

  it('cannot be made to load Object.prototype through a __proto__ session id', async () => {
    const res = await request(
      app({ cookie: { signed: false }, prefix: '' }, (ctx) => {
        ctx.body = { keys: Object.keys(ctx.session!), proto: Object.getPrototypeOf(ctx.session) === Object.prototype };
      }).callback(),
    )
      .get('/')
      .set('Cookie', 'koa.sid=__proto__');
    expect(res.body).to.deep.equal({ keys: ['cookie'], proto: true });
    expect(({} as Record<string, unknown>).cookie).to.equal(undefined);
  });
});
