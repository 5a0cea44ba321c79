import { expect } from 'chai';
import { createHash, createHmac } from 'node:crypto';
import type { Context } from 'koa';
import { app, agent, cookieValue, MemoryStore } from './support/app.js';
import { RecordingStore } from './support/stores.js';
import type { Session, SessionOptions } from '../lib/index.js';

const sha256 = (sid: string) => createHash('sha256').update(sid).digest('base64url');
const hmac = (secret: string, sid: string) => createHmac('sha256', secret).update(sid).digest('base64url');
const COOKIE = { path: '/', httpOnly: true, overwrite: true, signed: false, maxAge: 86_400_000 };

async function handler(ctx: Context): Promise<void> {
  if (ctx.path === '/login') ctx.session!.user = 'ann';
  if (ctx.path === '/count') ctx.session!.count = ((ctx.session!.count as number | undefined) ?? 0) + 1;
  if (ctx.path === '/store') {
    const sid = ctx.sessionId!;
    ctx.body = { got: await ctx.sessionStore.get(sid) !== null };
    await ctx.sessionStore.destroy(sid);
    ctx.sessionSave = false;
    return;
  }
  ctx.body = { user: ctx.session!.user ?? null, count: ctx.session!.count ?? 0 };
}

const unsigned = (options: SessionOptions) => app({ cookie: { signed: false }, ...options }, handler);

describe('hashIds', () => {
  it('stores a session under prefix + SHA-256 of its id, never under the id', async () => {
    const store = new RecordingStore();
    const a = agent(app({ store, hashIds: true }, handler));
    const sid = cookieValue(await a.get('/login'), 'koa.sid')!;
    expect([...store.data.keys()]).to.deep.equal(['koa:sess:' + sha256(sid)]);
    expect((await a.get('/count')).body).to.deep.equal({ user: 'ann', count: 1 });
    expect(store.calls.map((c) => c.key).filter((k) => k!.includes(sid))).to.deep.equal([]);
  });

  it('with a secret, the key is an HMAC-SHA256 of the id', async () => {
    const store = new MemoryStore();
    const a = agent(app({ store, hashIds: { secret: 'the store key secret' } }, handler));
    const sid = cookieValue(await a.get('/login'), 'koa.sid')!;
    expect(await store.get('koa:sess:' + hmac('the store key secret', sid))).to.deep.include({ user: 'ann' });
    expect(await store.get('koa:sess:' + sha256(sid))).to.equal(null);
    expect((await a.get('/')).body).to.deep.equal({ user: 'ann', count: 0 });
  });

  it('a key read from the store, sent back as a cookie, is no session', async () => {
    const store = new RecordingStore();
    const a = agent(unsigned({ store, hashIds: true }));
    await a.get('/login');
    const leaked = [...store.data.keys()][0]!.slice('koa:sess:'.length);
    const replay = agent(unsigned({ store, hashIds: true }));
    replay.jar.setCookie(`koa.sid=${leaked}`);
    expect((await replay.get('/')).body).to.deep.equal({ user: null, count: 0 });
  });

  it('ctx.sessionStore takes raw ids and hashes them', async () => {
    const store = new MemoryStore();
    const a = agent(app({ store, hashIds: true }, handler));
    await a.get('/login');
    expect((await a.get('/store')).body).to.deep.equal({ got: true });
    expect(store.size).to.equal(0);
  });

  it('listSessions and destroySessions work on hashed keys (owner index)', async () => {
    const store = new MemoryStore();
    const koa = app({ store, hashIds: true, owner: (s) => s.user as string | undefined }, handler);
    const sessions = koa.middleware[0] as unknown as import('../lib/index.js').SessionMiddleware;
    const one = agent(koa);
    const two = agent(koa);
    const sid = cookieValue(await one.get('/login'), 'koa.sid')!;
    await two.get('/login');
    const list = await sessions.listSessions('ann', { current: sid });
    expect(list).to.have.length(2);
    expect(list.filter((s) => s.current)).to.have.length(1);
    expect(await sessions.destroySessions('ann', { except: sid })).to.equal(1);
    expect((await one.get('/')).body).to.deep.equal({ user: 'ann', count: 0 });
    expect((await two.get('/')).body).to.deep.equal({ user: null, count: 0 });
  });

  it('without migrate, a session stored under its raw id is not found', async () => {
    const store = new MemoryStore();
    store.set('koa:sess:rawid', { user: 'bob', cookie: COOKIE }, 60_000);
    const a = agent(unsigned({ store, hashIds: true }));
    a.jar.setCookie('koa.sid=rawid');
    expect((await a.get('/')).body).to.deep.equal({ user: null, count: 0 });
  });

  describe('migrate: true', () => {
    it('MemoryStore: moves a raw-key session to its hashed key on its first request, then reads only the hash', async () => {
      const store = new MemoryStore();
      store.set('koa:sess:rawid', { user: 'bob', cookie: COOKIE }, 60_000);
      const a = agent(unsigned({ store, hashIds: { migrate: true } }));
      a.jar.setCookie('koa.sid=rawid');
      expect((await a.get('/')).body).to.deep.equal({ user: 'bob', count: 0 });
      expect(await store.get('koa:sess:rawid')).to.equal(null);
      expect(await store.get('koa:sess:' + sha256('rawid'))).to.deep.include({ user: 'bob' });
      expect((await a.get('/count')).body).to.deep.equal({ user: 'bob', count: 1 });
      expect(store.size).to.equal(1);
    });

    it('a store without move(): the hashed key is written before the raw one is deleted', async () => {
      const store = new RecordingStore();
      store.data.set('koa:sess:rawid', JSON.stringify({ user: 'bob', cookie: COOKIE }));
      const a = agent(unsigned({ store, hashIds: { migrate: true } }));
      a.jar.setCookie('koa.sid=rawid');
      expect((await a.get('/')).body).to.deep.equal({ user: 'bob', count: 0 });
      const hashed = 'koa:sess:' + sha256('rawid');
      expect(store.calls.map((c) => `${c.op} ${c.key}`)).to.deep.equal([
        `get ${hashed}`,
        'get koa:sess:rawid',
        `set ${hashed}`,
        'destroy koa:sess:rawid',
      ]);
      store.calls.length = 0;
      expect((await a.get('/')).body).to.deep.equal({ user: 'bob', count: 0 });
      expect(store.calls.map((c) => `${c.op} ${c.key}`)).to.deep.equal([`get ${hashed}`]);
    });

    it('a request that misses both keys reads the hashed one again: a parallel request may have moved it in between', async () => {
      const store = new RecordingStore();
      const hashed = 'koa:sess:' + sha256('rawid');
      // what a parallel migration does between this request's two reads
      const get = store.get.bind(store);
      store.get = async (key: string) => {
        if (key === 'koa:sess:rawid' && store.data.has(key)) {
          store.data.set(hashed, store.data.get(key)!);
          store.data.delete(key);
        }
        return get(key);
      };
      store.data.set('koa:sess:rawid', JSON.stringify({ user: 'bob', cookie: COOKIE }));
      const a = agent(unsigned({ store, hashIds: { migrate: true } }));
      a.jar.setCookie('koa.sid=rawid');
      expect((await a.get('/')).body).to.deep.equal({ user: 'bob', count: 0 });
    });

    it('records a migrated session in the owner index, so log out everywhere ends it', async () => {
      const store = new MemoryStore();
      const owner = (s: Session) => s.user as string | undefined;
      // the session and its index entry as they were before hashIds
      const before = agent(unsigned({ store, owner }));
      const sid = cookieValue(await before.get('/login'), 'koa.sid')!;
      const koa = unsigned({ store, owner, hashIds: { migrate: true } });
      const sessions = koa.middleware[0] as unknown as import('../lib/index.js').SessionMiddleware;
      const a = agent(koa);
      a.jar.setCookie(`koa.sid=${sid}`);
      expect((await a.get('/')).body).to.deep.equal({ user: 'ann', count: 0 });
      const list = await sessions.listSessions('ann', { current: sid });
      expect(list.map((s) => s.current)).to.deep.equal([true]);
      expect(await sessions.destroySessions('ann')).to.equal(1);
      expect((await a.get('/')).body).to.deep.equal({ user: null, count: 0 });
    });

    it('ctx.sessionStore finds a session still under its raw id, and destroy removes both keys', async () => {
      const store = new MemoryStore();
      store.set('koa:sess:rawid', { user: 'bob', cookie: COOKIE }, 60_000);
      const koa = unsigned({ store, hashIds: { migrate: true } });
      const sessions = koa.middleware[0] as unknown as import('../lib/index.js').SessionMiddleware;
      expect(await sessions.sessionStore.get('rawid')).to.deep.include({ user: 'bob' });
      await sessions.sessionStore.destroy('rawid');
      expect(store.size).to.equal(0);
    });
  });
});
