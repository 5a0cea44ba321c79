import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import { Redis } from 'ioredis';
import { app, agent, cookieValue, setCookies } from './support/app.js';
import { RedisServer, stopAllRedis } from './support/redis.js';
import { RedisStore, type RedisStoreInvalidValue } from '../lib/store/redis.js';
import type { Session } from '../lib/index.js';

/** The session key of the first Set-Cookie `koa.sid` of a response. */
function keyOf(res: { headers: Record<string, unknown> }): string {
  const sid = cookieValue(res, 'koa.sid');
  if (sid === undefined) throw new Error('the response set no koa.sid cookie');
  return 'koa:sess:' + sid;
}

describe('RedisStore (standalone redis-server)', function () {
  let redis: RedisServer;
  let store: RedisStore;

  before(async () => {
    redis = await RedisServer.start();
  });
  after(stopAllRedis);

  beforeEach(async () => {
    await redis.command('FLUSHALL');
    store = new RedisStore({ url: redis.url });
    await once(store, 'connect');
  });
  afterEach(() => store.quit());

  const pttl = async (key: string) => Number(await redis.command('PTTL', key));
  const raw = async (key: string) => (await redis.command('GET', key)) as string | null;

  const handler = (ctx: Context) => {
    if (ctx.path === '/set') ctx.session!.user = 'ann';
    if (ctx.path === '/expires') ctx.session!.cookie.expires = new Date(Date.now() + 45_000);
    if (ctx.path === '/logout') ctx.session = null;
    if (ctx.path === '/bump') ctx.session!.n = Number(ctx.session!.n ?? 0) + 1;
    ctx.body = { user: ctx.session?.user ?? null };
  };

  describe('through the middleware', () => {
    it('round-trips a session: one JSON value under prefix + id, read back on the next request', async () => {
      const a = agent(app({ store }, handler));
      const first = await a.get('/set').expect(200);
      const key = keyOf(first);
      expect(JSON.parse((await raw(key))!)).to.deep.include({ user: 'ann' });
      expect(await redis.command('DBSIZE')).to.equal(1);
      expect((await a.get('/').expect(200)).body).to.deep.equal({ user: 'ann' });
    });

    it('deletes the key when the session is set to null', async () => {
      const a = agent(app({ store }, handler));
      const key = keyOf(await a.get('/set'));
      await a.get('/logout').expect(200);
      expect(await raw(key)).to.equal(null);
    });

    it("stores with the ttl of cookie.maxAge: the key's PTTL", async () => {
      const key = keyOf(await agent(app({ store, cookie: { maxAge: 60_000 } }, handler)).get('/set'));
      expect(await pttl(key)).to.be.within(59_000, 60_000);
    });

    it('stores with the ttl a ttl function returns', async () => {
      const ttl = (session: Session) => (session.user === 'ann' ? 30_000 : 1000);
      const key = keyOf(await agent(app({ store, ttl }, handler)).get('/set'));
      expect(await pttl(key)).to.be.within(29_000, 30_000);
    });

    it('stores with the ttl left until cookie.expires, which comes back as a Date', async () => {
      const key = keyOf(await agent(app({ store }, handler)).get('/expires'));
      expect(await pttl(key)).to.be.within(44_000, 45_000);
      const loaded = await store.get(key);
      expect(loaded!.cookie.expires).to.be.an.instanceOf(Date);
      expect(loaded!.cookie.expires!.getTime()).to.be.closeTo(Date.now() + 45_000, 1000);
    });

    it('a browser-session cookie (maxAge: null) with a ttl function expires in Redis as configured', async () => {
      const res = await agent(app({ store, cookie: { maxAge: null }, ttl: () => 20_000 }, handler)).get('/set');
      const cookie = setCookies(res).find((c) => c.startsWith('koa.sid='))!;
      expect(cookie).not.to.match(/expires=|max-age=/i);
      expect(await pttl(keyOf(res))).to.be.within(19_000, 20_000);
    });

    it('a browser-session cookie without a ttl function is stored without expiry', async () => {
      const res = await agent(app({ store, cookie: { maxAge: null } }, handler)).get('/set');
      expect(await pttl(keyOf(res))).to.equal(-1);
    });

    it('a ttl below 0 removes the stored session (0 means "from the cookie", as in koa-generic-session)', async () => {
      let ttl = 60_000;
      const a = agent(app({ store, ttl: () => ttl }, handler));
      const key = keyOf(await a.get('/bump'));
      expect(await raw(key)).not.to.equal(null);
      ttl = -1;
      await a.get('/bump');
      expect(await raw(key)).to.equal(null);
    });
  });

  describe('store methods', () => {
    const session = (): Session => ({ cookie: { path: '/' }, n: 1 });

    it('set without a ttl stores without expiry; a fractional ttl is rounded up', async () => {
      await store.set('k1', session(), undefined);
      expect(await pttl('k1')).to.equal(-1);
      await store.set('k2', session(), 1500.2);
      expect(await pttl('k2')).to.be.within(1000, 1501);
    });

    it('set with a ttl at or below 0 deletes the key', async () => {
      await store.set('k', session(), 10_000);
      await store.set('k', session(), 0);
      expect(await raw('k')).to.equal(null);
      await store.set('k', session(), 10_000);
      await store.set('k', session(), -5);
      expect(await raw('k')).to.equal(null);
    });

    it('touch extends the ttl without rewriting the value; without a ttl it sends nothing', async () => {
      await store.set('k', session(), 5000);
      await redis.command('SETRANGE', 'k', 0, ' '); // a marker a rewrite would erase
      const before = await raw('k');
      await store.touch('k', 60_000);
      expect(await pttl('k')).to.be.within(59_000, 60_000);
      expect(await raw('k')).to.equal(before);
      await redis.resetStats();
      await store.touch('k', undefined);
      expect(await redis.commandStats()).not.to.have.property('pexpire');
      expect(await pttl('k')).to.be.within(58_000, 60_000);
    });

    it('get returns null for a missing key; destroy removes a key', async () => {
      expect(await store.get('nothing')).to.equal(null);
      await store.set('k', session(), 5000);
      expect(await store.get('k')).to.deep.equal(session());
      await store.destroy('k');
      expect(await store.get('k')).to.equal(null);
    });

    it('rejects a ttl that is not a number', async () => {
      let error: unknown;
      try {
        await store.set('k', session(), 'soon' as unknown as number);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.an.instanceOf(TypeError).with.property('message').that.matches(/ttl must be a number/);
    });
  });

  describe('stored values that are not sessions', () => {
    const bad: Array<[string, string]> = [
      ['not JSON', 'not json{'],
      ['an array', '[1,2]'],
      ['a string', '"ann"'],
      ['null', 'null'],
      ['a __proto__ key', '{"cookie":{},"__proto__":{"polluted":"yes"}}'],
      ['a nested __proto__ key', '{"cookie":{},"a":{"b":{"__proto__":{"polluted":"yes"}}}}'],
      ['constructor.prototype', '{"cookie":{},"constructor":{"prototype":{"polluted":"yes"}}}'],
      ['a cookie with __proto__', '{"cookie":{"__proto__":{"polluted":"yes"}}}'],
      ['an invalid cookie.expires', '{"cookie":{"expires":"someday"}}'],
    ];
    for (const [what, value] of bad) {
      it(`${what}: reported as invalid, treated as no session, no prototype pollution`, async () => {
        const invalid: RedisStoreInvalidValue[] = [];
        store.on('invalid', (info) => invalid.push(info));
        const a = agent(app({ store }, handler));
        const key = keyOf(await a.get('/set'));
        await redis.command('SET', key, value);
        const res = await a.get('/').expect(200);
        expect(res.body).to.deep.equal({ user: null });
        expect(invalid).to.have.length(1);
        expect(invalid[0]!.key).to.equal(key);
        expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      });
    }
  });

  describe('serializer', () => {
    const serializer = {
      stringify: (s: Session) => 'v1:' + Buffer.from(JSON.stringify(s)).toString('base64'),
      parse: (text: string): unknown => {
        if (!text.startsWith('v1:')) throw new Error('unknown format');
        return JSON.parse(Buffer.from(text.slice(3), 'base64').toString());
      },
    };

    it('stores what stringify returns and reads back through parse, reviving cookie.expires', async () => {
      const custom = new RedisStore({ url: redis.url, serializer });
      try {
        const a = agent(app({ store: custom }, handler));
        const key = keyOf(await a.get('/set'));
        expect(await raw(key)).to.match(/^v1:/);
        expect((await a.get('/')).body).to.deep.equal({ user: 'ann' });
        await custom.set('x', { cookie: { expires: new Date(Date.now() + 10_000) } }, 10_000);
        expect((await custom.get('x'))!.cookie.expires).to.be.an.instanceOf(Date);
      } finally {
        await custom.quit();
      }
    });

    it('a value parse throws on is reported as invalid and treated as no session', async () => {
      const custom = new RedisStore({ url: redis.url, serializer });
      try {
        const invalid: RedisStoreInvalidValue[] = [];
        custom.on('invalid', (info) => invalid.push(info));
        await redis.command('SET', 'old', '{"cookie":{}}');
        expect(await custom.get('old')).to.equal(null);
        expect(invalid).to.deep.equal([{ key: 'old', reason: 'serializer.parse threw: unknown format' }]);
      } finally {
        await custom.quit();
      }
    });
  });

  describe('clients and lifecycle', () => {
    it('uses a given ioredis client and leaves it open on quit(), unless closeClient is true', async () => {
      const client = new Redis(redis.url);
      try {
        const given = new RedisStore({ client });
        const events: string[] = [];
        given.on('disconnect', () => events.push('disconnect'));
        await given.set('k', { cookie: {} }, 5000);
        await given.quit();
        expect(client.status).to.equal('ready');
        expect(await client.get('k')).to.equal('{"cookie":{}}');
        const owning = new RedisStore({ client, closeClient: true });
        await owning.quit();
        expect(client.status).to.equal('end');
        expect(events).to.deep.equal([]);
      } finally {
        client.disconnect();
      }
    });

    it('reports disconnect for a given client that is already closed', async () => {
      const client = new Redis(redis.url);
      await once(client, 'ready');
      client.disconnect();
      await once(client, 'end');
      const given = new RedisStore({ client });
      await once(given, 'disconnect');
      expect(given.status).to.equal('disconnected');
      await given.quit();
    });

    it('attaches an error listener to the client, given or created', async () => {
      const client = new Redis(redis.url, { lazyConnect: true });
      const given = new RedisStore({ client });
      expect(client.listenerCount('error')).to.equal(1);
      expect((store.client as Redis).listenerCount('error')).to.equal(1);
      await given.quit();
      expect(client.listenerCount('error')).to.equal(0);
    });

    it('quit() closes a client it created, emits no disconnect, and is idempotent', async () => {
      const events: string[] = [];
      store.on('disconnect', () => events.push('disconnect'));
      store.on('connect', () => events.push('connect'));
      const first = store.quit();
      expect(store.quit()).to.equal(first);
      await first;
      expect(store.client.status).to.equal('end');
      expect(store.status).to.equal('closed');
      expect(events).to.deep.equal([]);
    });

    it('fails at setup with a TypeError that names the option', () => {
      // every case names this test's server (or none at all) and connects lazily: were validation to
      // let one through, its client would neither connect nor fall back to 127.0.0.1:6379
      const lazy = { redisOptions: { lazyConnect: true }, clusterOptions: { lazyConnect: true } };
      const cases: Array<[unknown, RegExp]> = [
        [{ url: redis.url, cluster: [{ host: '127.0.0.1', port: redis.port }] }, /one of the options client, url, sentinels or cluster; got url and cluster/],
        [{ client: {} }, /"client" must be an ioredis Redis or Cluster/],
        [{ sentinels: [{ host: '127.0.0.1', port: redis.port }] }, /"sentinels" needs "name"/],
        [{ cluster: [] }, /"cluster" must be a non-empty array/],
        [{ url: redis.url, serializer: { stringify: JSON.stringify } }, /"serializer" must be an object with stringify/],
        [{ url: redis.url, commandTimeout: 0 }, /"commandTimeout" must be a finite number of ms above 0, got number 0/],
        [{ url: redis.url, guardWrites: 'yes' }, /"guardWrites" must be a boolean, got the string "yes"/],
      ];
      for (const [options, message] of cases) {
        expect(() => new RedisStore({ ...lazy, ...(options as object) } as never)).to.throw(TypeError, message);
      }
    });
  });
});
