import { expect } from 'chai';
import request from 'supertest';
import { MemoryStore } from '../lib/index.js';
import { diffSession, sessionChange } from '../lib/session.js';
import type { Session } from '../lib/index.js';
import { RecordingStore } from './support/stores.js';
import { concurrencyApp, cookieOf, parallelChanges } from './support/merge-scenarios.js';
import { Gate } from './support/gate.js';
import { until } from './support/wait.js';

describe('merge on save: no lost updates between concurrent requests (MemoryStore)', () => {
  for (const n of [2, 10, 50]) {
    it(`${n} parallel requests on one session, each setting its own key: all keys kept`, async () => {
      const result = await parallelChanges({ store: new MemoryStore() }, n);
      expect(result.lost).to.equal(0);
    });
  }

  it('with merge: false, whole-session saves come back, and overlapping changes are lost (last write wins)', async () => {
    const result = await parallelChanges({ store: new MemoryStore(), merge: false }, 10);
    console.log(`      merge: false, 10 parallel changes: ${result.lost} lost`);
    // all ten loaded the same session before any saved: each save replaces the others' changes
    expect(result.lost).to.equal(9);
  });

  it('a store without merge() keeps whole-session saves (the middleware asks the store, it does not guess)', async () => {
    const store = new RecordingStore();
    const app = concurrencyApp({ store });
    const cookie = cookieOf(await request(app.callback()).get('/login'));
    store.calls.length = 0;
    await request(app.callback()).get('/set?k=a').set('Cookie', cookie);
    expect(store.ops()).to.deep.equal(['get', 'set']);
  });

  it('a deleted key stays deleted while another request sets a different key', async () => {
    const store = new MemoryStore();
    const gate = new Gate();
    const handler = concurrencyApp({ store }, gate).callback();
    const cookie = cookieOf(await request(handler).get('/login'));
    await request(handler).get('/set?k=x').set('Cookie', cookie);
    const both = Promise.all([
      request(handler).get('/del?k=x&hold=both').set('Cookie', cookie).then((r) => r),
      request(handler).get('/set?k=y&hold=both').set('Cookie', cookie).then((r) => r),
    ]);
    await gate.reached('both', 2);
    gate.open('both');
    await both;
    const final = (await request(handler).get('/').set('Cookie', cookie)).body;
    expect(final).to.not.have.property('x');
    expect(final).to.have.property('y', true);
    expect(final).to.have.property('user', 'ann');
  });

  it('a session destroyed while a request was in flight is not resurrected by its late merge', async () => {
    const store = new MemoryStore();
    const gate = new Gate();
    const handler = concurrencyApp({ store }, gate).callback();
    const cookie = cookieOf(await request(handler).get('/login'));
    const late = request(handler).get('/set?k=late&hold=late').set('Cookie', cookie).then((r) => r);
    await gate.reached('late');
    await request(handler).get('/logout').set('Cookie', cookie).expect(200);
    expect(store.size).to.equal(0);
    gate.open('late');
    const lateRes = await late;
    expect(lateRes.status).to.equal(200);
    expect(store.size).to.equal(0);
    expect(([] as string[]).concat(lateRes.headers['set-cookie'] ?? []).some((c) => /^koa\.sid=;/.test(c))).to.equal(true);
  });

  it('a session that expired while a request was in flight is not resurrected', async () => {
    const store = new MemoryStore();
    const gate = new Gate();
    const handler = concurrencyApp({ store }, gate).callback();
    const login = await request(handler).get('/login');
    const key = `koa:sess:${/koa\.sid=([^;]+)/.exec(cookieOf(login))![1]}`;
    const late = request(handler).get('/set?k=late&hold=late').set('Cookie', cookieOf(login)).then((r) => r);
    await gate.reached('late');
    // the session expires while the request holds it: its lifetime ends now
    store.touch(key, 1);
    await until(() => store.get(key) === null, 'the session to expire');
    gate.open('late');
    const res = await late;
    // it loaded the live session, and the session expired before its save
    expect(res.body.user).to.equal('ann');
    expect(store.size).to.equal(0);
  });

  it('two requests changing the same key: the last one to finish wins', async () => {
    const store = new MemoryStore();
    const gate = new Gate();
    const handler = concurrencyApp({ store }, gate).callback();
    const cookie = cookieOf(await request(handler).get('/login'));
    const first = request(handler).get('/name?v=first&hold=first').set('Cookie', cookie).then((r) => r);
    const second = request(handler).get('/name?v=second&hold=second').set('Cookie', cookie).then((r) => r);
    await Promise.all([gate.reached('first'), gate.reached('second')]);
    gate.open('first');
    expect((await first).status).to.equal(200);
    gate.open('second');
    expect((await second).status).to.equal(200);
    expect((await request(handler).get('/').set('Cookie', cookie)).body.name).to.equal('second');
  });

  describe('diffSession()', () => {
    it('lists set, changed and deleted top-level keys, and cookie changes', () => {
      const original = JSON.stringify({ cookie: { maxAge: 1 }, a: 1, b: [1], gone: true });
      const patch = diffSession(original, { cookie: { maxAge: 2 }, a: 1, b: [1, 2], added: 'x', u: undefined }, false);
      expect({ ...patch.set }).to.deep.equal({ cookie: { maxAge: 2 }, b: [1, 2], added: 'x' });
      expect(patch.unset).to.deep.equal(['gone']);
    });

    it('a forced save sets every key', () => {
      const patch = diffSession(JSON.stringify({ cookie: {}, a: 1 }), { cookie: {}, a: 1 }, true);
      expect(Object.keys(patch.set)).to.deep.equal(['cookie', 'a']);
    });
  });

  describe('MemoryStore.merge()', () => {
    const loaded = JSON.stringify({ cookie: { maxAge: 1000 }, a: 1, b: 2 });
    // the request deleted a and set it again: no patch member, but a now comes last
    const session = { cookie: { maxAge: 1000 }, b: 2, a: 1 } as unknown as Session;

    it('when the store holds the text the request loaded, it keeps the request\'s whole session as written', async () => {
      const store = new MemoryStore();
      store.set('k', JSON.parse(loaded) as Session, 60_000);
      expect(store.merge('k', sessionChange(loaded, session, false, JSON.stringify(session)), 60_000)).to.equal(true);
      expect(Object.keys(store.get('k')!)).to.deep.equal(['cookie', 'b', 'a']);
    });

    it('when another write came first, it applies the patch onto what it holds', async () => {
      const store = new MemoryStore();
      store.set('k', { ...(JSON.parse(loaded) as Session), c: 3 }, 60_000);
      const mine = { ...session, d: 4 } as Session;
      expect(store.merge('k', sessionChange(loaded, mine, false, JSON.stringify(mine)), 60_000)).to.equal(true);
      expect(store.get('k')).to.deep.equal({ cookie: { maxAge: 1000 }, a: 1, b: 2, c: 3, d: 4 });
      expect(Object.keys(store.get('k')!)).to.deep.equal(['cookie', 'a', 'b', 'c', 'd']);
    });

    it('a merge onto a vanished session writes nothing, whichever path it would take', async () => {
      const store = new MemoryStore();
      expect(store.merge('k', sessionChange(loaded, session, false, JSON.stringify(session)), 60_000)).to.equal(false);
      expect(store.merge('k', { set: { a: 1 }, unset: [] }, 60_000)).to.equal(false);
      expect(store.size).to.equal(0);
    });
  });
});
