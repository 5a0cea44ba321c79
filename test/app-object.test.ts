/**
 * The object the app holds as `ctx.session` gains nothing it did not put
 * there: saving adds the cookie options to what is stored, not to that
 * object. Through whole-session saves, merges (MemoryStore, real Redis), the
 * owner index, rolling and defer mode.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import Koa from 'koa';
import request from 'supertest';
import session, { MemoryStore, type Session, type SessionOptions, type SessionStore } from '../lib/index.js';
import { RedisStore } from '../lib/store/redis.js';
import { RecordingStore, TouchStore } from './support/stores.js';
import { RedisServer, stopAllRedis } from './support/redis.js';

const CONFIGURED = { path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 86_400_000 };

/** An app whose handlers keep a reference to the object they answered with, to look at after the save. */
function holderApp(options: SessionOptions) {
  const held: Array<Record<string, unknown>> = [];
  const koa = new Koa();
  koa.keys = ['app object key'];
  koa.silent = true;
  const middleware = session(options);
  koa.use(middleware);
  koa.use(async (ctx) => {
    const defer = options.defer === true;
    const current = async () => (defer ? await ctx.session : ctx.session) as Session;
    if (ctx.path === '/login') (await current()).n = 1;
    if (ctx.path === '/assign') ctx.session = { foo: 'bar' } as unknown as Session; // as JavaScript apps do: the types ask for cookie
    if (ctx.path === '/owner') ctx.session = { userId: 'ann' } as unknown as Session;
    const answered = await current();
    held.push(answered);
    ctx.body = answered;
  });
  return { koa, held, middleware };
}

const cookieOf = (res: request.Response): string =>
  ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');

function suite(
  name: string,
  makeStore: () => Promise<SessionStore> | SessionStore,
  read: (store: SessionStore, key: string) => Promise<unknown>,
  extra: SessionOptions = {},
) {
  describe(name, () => {
    for (const defer of [false, true]) {
      it(`${defer ? 'defer: ' : ''}ctx.session = { foo } over a loaded session: the held object stays { foo }, the store gets the cookie options`, async () => {
        const store = await makeStore();
        const { koa, held } = holderApp({ ...extra, store, defer, genSid: () => 'sid-app' });
        const login = await request(koa.callback()).get('/login');
        const res = await request(koa.callback()).get('/assign').set('Cookie', cookieOf(login));
        expect(res.body).to.deep.equal({ foo: 'bar' });
        // looked at after the response, so after the save
        expect(held[1]).to.deep.equal({ foo: 'bar' });
        expect(await read(store, 'koa:sess:sid-app')).to.deep.equal({ cookie: CONFIGURED, foo: 'bar' });
        const again = await request(koa.callback()).get('/').set('Cookie', cookieOf(login));
        expect(again.body).to.deep.equal({ cookie: CONFIGURED, foo: 'bar' });
      });

      it(`${defer ? 'defer: ' : ''}ctx.session = { foo } on a first visit: the held object stays { foo }, the session is stored and found again`, async () => {
        const store = await makeStore();
        const { koa, held } = holderApp({ ...extra, store, defer, genSid: () => 'sid-new' });
        const res = await request(koa.callback()).get('/assign');
        expect(res.body).to.deep.equal({ foo: 'bar' });
        expect(held[0]).to.deep.equal({ foo: 'bar' });
        expect(await read(store, 'koa:sess:sid-new')).to.deep.equal({ foo: 'bar', cookie: CONFIGURED });
        expect((await request(koa.callback()).get('/').set('Cookie', cookieOf(res))).body).to.deep.equal({ foo: 'bar', cookie: CONFIGURED });
      });
    }
  });
}

describe('the object the app holds gains nothing it did not put there', () => {
  suite('RecordingStore (whole-session set)', () => new RecordingStore(), async (store, key) => (store as RecordingStore).stored(key));
  suite('MemoryStore (merge on save)', () => new MemoryStore(), async (store, key) => (store as MemoryStore).get(key));
  suite('MemoryStore, merge: false', () => new MemoryStore(), async (store, key) => (store as MemoryStore).get(key), { merge: false });

  describe('RedisStore (merge on save, real redis-server)', function () {
    let redis: RedisServer;
    const stores: RedisStore[] = [];
    before(async () => {
      redis = await RedisServer.start({ label: 'app-object' });
    });
    after(async () => {
      await Promise.all(stores.splice(0).map((s) => s.quit()));
      await stopAllRedis();
    });
    suite(
      'RedisStore',
      async () => {
        const store = new RedisStore({ url: redis.url });
        stores.push(store);
        await once(store, 'connect');
        return store;
      },
      async (_store, key) => JSON.parse((await redis.command('GET', key)) as string) as unknown,
    );
  });

  it('the owner index records an assigned object without cookie options, which it does not gain', async () => {
    const store = new MemoryStore();
    const { koa, held, middleware } = holderApp({ store, owner: (s) => s.userId as string | undefined, genSid: () => 'sid-owned' });
    await request(koa.callback()).get('/owner');
    expect(held[0]).to.deep.equal({ userId: 'ann' });
    const listed = await middleware.listSessions('ann');
    expect(listed).to.have.length(1);
    expect(listed[0]!.ttl).to.be.within(86_000_000, 86_400_000);
  });

  it('rolling over a session stored without cookie options: ttl and cookie from the configured ones, the app object unchanged', async () => {
    const store = new TouchStore();
    const first = holderApp({ store, genSid: () => 'sid-roll' });
    const login = await request(first.koa.callback()).get('/login');
    store.data.set('koa:sess:sid-roll', '{"user":"alice"}');
    store.calls.length = 0;
    const { koa, held } = holderApp({ store, rolling: true, cookie: { maxAge: 5000 } });
    const res = await request(koa.callback()).get('/').set('Cookie', cookieOf(login));
    expect(res.body).to.deep.equal({ user: 'alice' });
    expect(held[0]).to.deep.equal({ user: 'alice' });
    expect(store.calls.map((c) => `${c.op} ${c.ttl ?? ''}`)).to.deep.equal(['get ', 'touch 5000']);
    expect(([] as string[]).concat(res.headers['set-cookie'] ?? [])[0]).to.match(/^koa\.sid=sid-roll; path=\/; expires=[^;]+; httponly$/);
  });

  it('beforeSave sees the object as the app left it, as in koa-generic-session', async () => {
    const seen: string[][] = [];
    const { koa } = holderApp({ store: new MemoryStore(), beforeSave: (_ctx, s) => void seen.push(Object.keys(s)) });
    await request(koa.callback()).get('/assign');
    expect(seen).to.deep.equal([['foo']]);
  });
});
