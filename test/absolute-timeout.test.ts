import { expect } from 'chai';
import type { Context } from 'koa';
import { app, agent, cookieValue, MemoryStore } from './support/app.js';
import { RecordingStore, TouchStore } from './support/stores.js';
import { FakeClock } from './support/clock.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** /login regenerates and sets a user, /count counts requests, / only reads; every answer is ctx.session as the app sees it. */
async function handler(ctx: Context): Promise<void> {
  if (ctx.path === '/login') {
    await ctx.regenerateSession();
    ctx.session!.user = 'ann';
  }
  if (ctx.path === '/count') ctx.session!.count = ((ctx.session!.count as number | undefined) ?? 0) + 1;
  ctx.body = { ...ctx.session, cookie: undefined };
}

describe('absoluteTimeout', () => {
  let clock: FakeClock;
  beforeEach(() => (clock = new FakeClock()));
  afterEach(() => clock.restore());

  it('ends a session absoluteTimeout after login however active it is, with rolling', async () => {
    const store = new MemoryStore();
    const a = agent(app({ store, rolling: true, absoluteTimeout: HOUR, cookie: { maxAge: 30 * MINUTE } }, handler));
    const login = await a.get('/login');
    const sid = cookieValue(login, 'koa.sid')!;
    // a request every 10 minutes: each one extends the 30-minute idle timeout
    for (let t = 10; t < 60; t += 10) {
      clock.advance(10 * MINUTE);
      expect((await a.get('/')).body, `at ${t} min`).to.deep.equal({ user: 'ann' });
    }
    clock.advance(10 * MINUTE - 1);
    expect((await a.get('/')).body, '1 ms before the end').to.deep.equal({ user: 'ann' });
    clock.advance(1);
    const ended = await a.get('/');
    expect(ended.body, 'at the end').to.deep.equal({});
    expect(await store.get('koa:sess:' + sid)).to.equal(null);
  });

  it('destroys the expired session in the store and gives a fresh one, even where the store kept it', async () => {
    // RecordingStore ignores ttls: only the middleware's check can end the session here
    const store = new TouchStore();
    const a = agent(app({ store, rolling: true, absoluteTimeout: HOUR }, handler));
    const sid = cookieValue(await a.get('/login'), 'koa.sid')!;
    clock.advance(HOUR);
    store.calls.length = 0;
    const res = await a.get('/count');
    expect(res.body).to.deep.equal({ count: 1 });
    expect(store.calls.filter((c) => c.op === 'destroy').map((c) => c.key)).to.deep.equal(['koa:sess:' + sid]);
    expect(store.data.has('koa:sess:' + sid)).to.equal(false);
    const fresh = cookieValue(res, 'koa.sid')!;
    expect(fresh).to.not.equal(sid);
    expect(store.stored('koa:sess:' + fresh)).to.have.nested.property('_kgs.createdAt', clock.now);
  });

  it('caps the store ttl at the time left, so the store ends the session by itself', async () => {
    const store = new TouchStore();
    const a = agent(app({ store, rolling: true, absoluteTimeout: HOUR }, handler));
    const sid = cookieValue(await a.get('/login'), 'koa.sid')!;
    // the cookie's maxAge (1 day) is longer than the hour
    expect(store.ttls.get('koa:sess:' + sid)).to.equal(HOUR);
    clock.advance(50 * MINUTE);
    await a.get('/');
    expect(store.calls.at(-1)).to.deep.include({ op: 'touch', ttl: 10 * MINUTE });
    clock.advance(5 * MINUTE);
    await a.get('/count');
    expect(store.calls.at(-1)).to.deep.include({ op: 'set', ttl: 5 * MINUTE });
  });

  it('counts from regenerateSession() (a login), not from the first visit', async () => {
    const store = new MemoryStore();
    const a = agent(app({ store, absoluteTimeout: HOUR }, handler));
    await a.get('/count');
    clock.advance(50 * MINUTE);
    await a.get('/login');
    clock.advance(50 * MINUTE);
    expect((await a.get('/')).body).to.deep.equal({ user: 'ann' });
    clock.advance(10 * MINUTE);
    expect((await a.get('/')).body).to.deep.equal({});
  });

  it('keeps the start time out of ctx.session and out of the cookie', async () => {
    const store = new RecordingStore();
    const a = agent(app({ store, absoluteTimeout: HOUR }, handler));
    const login = await a.get('/login');
    expect(login.body).to.deep.equal({ user: 'ann' });
    const sid = cookieValue(login, 'koa.sid')!;
    expect(sid).to.not.include(String(clock.now));
    expect(store.stored('koa:sess:' + sid)!._kgs).to.deep.equal({ createdAt: clock.now });
    const read = await a.get('/');
    expect(read.body).to.deep.equal({ user: 'ann' });
    // an unchanged session is not rewritten because of the member it carries
    expect(store.ops().slice(-2)).to.deep.equal(['set', 'get']);
  });

  it('gives a session stored before the option its start time on its next save, not on a read', async () => {
    const store = new RecordingStore();
    store.data.set('koa:sess:old', JSON.stringify({ user: 'bob', cookie: { path: '/', httpOnly: true, overwrite: true, signed: false, maxAge: 86_400_000 } }));
    const a = agent(app({ store, absoluteTimeout: HOUR, cookie: { signed: false } }, handler));
    a.jar.setCookie('koa.sid=old');
    clock.advance(2 * HOUR);
    expect((await a.get('/')).body).to.deep.equal({ user: 'bob' });
    expect(store.ops()).to.deep.equal(['get']);
    expect(store.stored('koa:sess:old')).to.not.have.property('_kgs');
    const saveTime = clock.now;
    expect((await a.get('/count')).body).to.deep.equal({ user: 'bob', count: 1 });
    expect(store.stored('koa:sess:old')!._kgs).to.deep.equal({ createdAt: saveTime });
    clock.advance(HOUR - 1);
    expect((await a.get('/')).body).to.deep.equal({ user: 'bob', count: 1 });
    clock.advance(1);
    expect((await a.get('/')).body).to.deep.equal({});
  });

  it('with rolling, stamps a session stored before the option on its next extension (a write, not a touch)', async () => {
    const store = new TouchStore();
    store.data.set('koa:sess:old', JSON.stringify({ user: 'bob', cookie: { path: '/', httpOnly: true, overwrite: true, signed: false, maxAge: 86_400_000 } }));
    const a = agent(app({ store, rolling: true, absoluteTimeout: HOUR, cookie: { signed: false } }, handler));
    a.jar.setCookie('koa.sid=old');
    await a.get('/');
    expect(store.ops()).to.deep.equal(['get', 'set']);
    expect(store.stored('koa:sess:old')!._kgs).to.deep.equal({ createdAt: clock.now });
    await a.get('/');
    expect(store.ops().slice(2)).to.deep.equal(['get', 'touch']);
  });

  it('drops a malformed start time instead of showing it to the app', async () => {
    const store = new RecordingStore();
    store.data.set('koa:sess:odd', JSON.stringify({ user: 'eve', _kgs: { createdAt: 'yesterday' }, cookie: { signed: false } }));
    const a = agent(app({ store, absoluteTimeout: HOUR, cookie: { signed: false } }, handler));
    a.jar.setCookie('koa.sid=odd');
    expect((await a.get('/')).body).to.deep.equal({ user: 'eve' });
    await a.get('/count');
    expect(store.stored('koa:sess:odd')!._kgs).to.deep.equal({ createdAt: clock.now });
  });
});
