import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';
import session, { MemoryStore, type SessionMiddleware } from '../lib/index.js';
import { RecordingStore } from './support/stores.js';
import { expectDevices, login, ownersApp } from './support/owners-app.js';
import { until } from './support/wait.js';

describe('owner index: every session of one user (MemoryStore)', () => {
  it('lists each owner\'s sessions with opaque handles, times and ttl, flagging the current one', async () => {
    const { app, mw } = ownersApp({ store: new MemoryStore() });
    const ann = await Promise.all([login(app, 'ann'), login(app, 'ann'), login(app, 'ann')]);
    await Promise.all([login(app, 'bob'), login(app, 'bob')]);
    expect(await mw.listSessions('ann')).to.have.length(3);
    expect(await mw.listSessions('bob')).to.have.length(2);
    const devices = (await request(app.callback()).get('/devices').set('Cookie', ann[0]!.cookie)).body as Array<Record<string, unknown>>;
    expectDevices(devices, 3, ann);
  });

  it('destroySessions ends the others, keeps the current one, and their cookies then get fresh empty sessions', async () => {
    const { app, mw } = ownersApp({ store: new MemoryStore() });
    const [mine, other1, other2] = await Promise.all([login(app, 'ann'), login(app, 'ann'), login(app, 'ann')]);
    await login(app, 'bob');
    const ended = await request(app.callback()).get('/everywhere').set('Cookie', mine!.cookie);
    expect(ended.body).to.deep.equal({ ended: 2 });
    for (const other of [other1!, other2!]) {
      const res = await request(app.callback()).get('/').set('Cookie', other.cookie);
      expect(res.body.userId).to.equal(null);
      expect(res.body.sid).to.not.equal(other.sid);
    }
    expect((await request(app.callback()).get('/').set('Cookie', mine!.cookie)).body.userId).to.equal('ann');
    expect(await mw.listSessions('ann')).to.have.length(1);
    expect(await mw.listSessions('bob')).to.have.length(1);
    expect(await mw.destroySessions('ann')).to.equal(1);
    expect(await mw.listSessions('ann')).to.deep.equal([]);
  });

  it('logout, regenerate and an owner change keep the index in step', async () => {
    const { app, mw } = ownersApp({ store: new MemoryStore() });
    const first = await login(app, 'ann');
    const again = await request(app.callback()).get('/login?user=ann').set('Cookie', first.cookie);
    expect(again.body.sid).to.not.equal(first.sid);
    expect(await mw.listSessions('ann')).to.have.length(1);
    const cookie = ([] as string[]).concat(again.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
    await request(app.callback()).get('/become?user=bob').set('Cookie', cookie);
    expect(await mw.listSessions('ann')).to.deep.equal([]);
    expect(await mw.listSessions('bob')).to.have.length(1);
    await request(app.callback()).get('/logout').set('Cookie', cookie);
    expect(await mw.listSessions('bob')).to.deep.equal([]);
  });

  it('expired sessions drop out of the list', async () => {
    const store = new MemoryStore();
    const { app, mw } = ownersApp({ store });
    const devices = [await login(app, 'ann'), await login(app, 'ann')];
    expect(await mw.listSessions('ann')).to.have.length(2);
    // their lifetimes end now (without reading them, which would drop them before the list does)
    for (const { sid } of devices) store.touch(`koa:sess:${sid}`, 1);
    const ended = Date.now() + 1;
    await until(() => Date.now() > ended, 'the sessions to expire');
    expect(await mw.listSessions('ann')).to.deep.equal([]);
  });

  it('a request in flight during destroySessions does not bring its session back', async () => {
    const store = new MemoryStore();
    let reached!: () => void;
    let proceed!: () => void;
    const loaded = new Promise<void>((r) => (reached = r));
    const { app, mw } = ownersApp({ store }, { reached, proceed: new Promise<void>((r) => (proceed = r)) });
    const device = await login(app, 'ann');
    const late = request(app.callback()).get('/slow').set('Cookie', device.cookie).then((r) => r);
    await loaded;
    expect(await mw.destroySessions('ann')).to.equal(1);
    proceed();
    const res = await late;
    expect(res.status).to.equal(200);
    expect(store.size).to.equal(0);
    expect(await mw.listSessions('ann')).to.deep.equal([]);
    const after = await request(app.callback()).get('/').set('Cookie', device.cookie);
    expect(after.body.userId).to.equal(null);
  });

  it('10,000 sessions of one owner are listed and destroyed', async () => {
    const store = new MemoryStore();
    const mw: SessionMiddleware = session({ store, owner: (s) => s.userId as string });
    for (let i = 0; i < 10_000; i++) store.set(`koa:sess:s${i}`, { cookie: {}, userId: 'many' }, 60_000, { owner: 'many' });
    let started = process.hrtime.bigint();
    const listed = await mw.listSessions('many');
    const listMs = Number(process.hrtime.bigint() - started) / 1e6;
    started = process.hrtime.bigint();
    const ended = await mw.destroySessions('many');
    const destroyMs = Number(process.hrtime.bigint() - started) / 1e6;
    expect(listed).to.have.length(10_000);
    expect(ended).to.equal(10_000);
    expect(store.size).to.equal(0);
    console.log(`      MemoryStore, 10,000 sessions of one owner: list ${listMs.toFixed(1)} ms, destroy ${destroyMs.toFixed(1)} ms`);
  });

  it('sessions without an owner cost nothing extra: the store sees no owner argument', async () => {
    class CountingStore extends MemoryStore {
      arities: number[] = [];
      override set(...args: Parameters<MemoryStore['set']>): void {
        this.arities.push(args.length);
        super.set(...args);
      }
    }
    const store = new CountingStore();
    const app = new Koa();
    app.keys = ['k'];
    app.use(session({ store, owner: (s) => s.userId as string | undefined }));
    app.use((ctx) => {
      ctx.session!.anonymous = true;
      ctx.body = 'ok';
    });
    await request(app.callback()).get('/');
    expect(store.arities).to.deep.equal([3]);
  });

  it('refuses the owner option at setup with a store that cannot index owners', () => {
    expect(() => session({ store: new RecordingStore(), owner: () => 'x' })).to.throw(TypeError, /owner.*listOwned and destroyOwned.*RecordingStore does not/);
  });

  it('refuses an owner that is not a string', async () => {
    const { app } = ownersApp({ store: new MemoryStore(), owner: () => 42 as unknown as string });
    const res = await request(app.callback()).get('/login?user=x');
    expect(res.status).to.equal(500);
  });
});
