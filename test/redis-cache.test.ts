import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import { Redis } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import request from 'supertest';
import { app } from './support/app.js';
import { FakeClock } from './support/clock.js';
import { cluster } from './support/deployments.js';
import { cookieOf } from './support/merge-scenarios.js';
import { RedisProxy } from './support/redis-proxy.js';
import { RedisSentinel, RedisServer, rawCommand, stopAllRedis, waitFor, type RespValue } from './support/redis.js';
import { warningsDuring } from './support/warnings.js';
import { RedisStore, type RedisStoreOptions } from '../lib/store/redis.js';
import type { Session } from '../lib/index.js';

const session = (fields: Record<string, unknown>): Session =>
  ({ cookie: { httpOnly: true, path: '/', maxAge: 86_400_000 }, ...fields }) as Session;
const text = (fields: Record<string, unknown>): string => JSON.stringify(session(fields));

/** Resolves once Redis tracks the store's reads, so the cache may serve them. */
const trackingOn = (store: RedisStore, timeoutMs = 10_000) =>
  waitFor("Redis to track the store's reads", () => (store.cacheStats()?.tracking === true ? true : undefined), timeoutMs, 5);

/** The store's next `cacheInvalidate` that names `key`. */
function invalidation(store: RedisStore, key: string): Promise<string[]> {
  return new Promise((resolve) => {
    const listener = (keys: string[]): void => {
      if (!keys.includes(key)) return;
      store.off('cacheInvalidate', listener);
      resolve(keys);
    };
    store.on('cacheInvalidate', listener);
  });
}

/** Runs `write` and resolves once the store heard Redis's invalidation of `key` (its keys). */
async function heard(store: RedisStore, key: string, write: () => Promise<unknown>): Promise<string[]> {
  const told = invalidation(store, key);
  await write();
  return told;
}

/** `CLIENT LIST` of a server, one record of fields per connection. */
async function clients(server: RedisServer): Promise<Array<Record<string, string>>> {
  const list = String(await server.command('CLIENT', 'LIST'));
  return list
    .trim()
    .split('\n')
    .map((line) => Object.fromEntries(line.trim().split(' ').map((field) => [field.slice(0, field.indexOf('=')), field.slice(field.indexOf('=') + 1)])));
}

/** The id of the one connection on `server` whose name `match` accepts. */
async function clientId(server: RedisServer, match: (name: string) => boolean): Promise<string> {
  const found = (await clients(server)).filter((c) => match(c.name ?? ''));
  expect(found.map((c) => c.name), 'connections matched').to.have.length(1);
  return found[0]!.id!;
}

const isSubscriber = (name: string) => name.includes(':invalidations:');

/** `CLIENT TRACKINGINFO` of a connection, as { flags, redirect }. */
async function trackingInfo(client: Redis): Promise<{ flags: string[]; redirect: number }> {
  const reply = (await client.call('CLIENT', 'TRACKINGINFO')) as RespValue[];
  const fields = new Map<string, RespValue>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]!);
  return { flags: (fields.get('flags') as string[]).map(String), redirect: Number(fields.get('redirect')) };
}

/** Forgets which warnings this process already gave, so a test sees its own. */
const clearWarned = () => (globalThis as Record<symbol, Set<string> | undefined>)[Symbol.for('koa-generic-session-ts.warned')]?.clear();

describe('RedisStore cache (one process, real redis-server)', function () {
  let redis: RedisServer;
  const stores: RedisStore[] = [];
  const proxies: RedisProxy[] = [];
  /** What a test started itself, ended after it even when it failed midway (a client left reconnecting keeps mocha alive). */
  const cleanups: Array<() => unknown> = [];
  let fences = 0;

  /** A store with the cache on, on the test's server (or `url`), quit after the test. */
  const cached = (options: RedisStoreOptions = {}): RedisStore => {
    const store = new RedisStore({ url: redis.url, cache: true, ...options });
    stores.push(store);
    return store;
  };
  /** Writes a session from another connection than the store's. */
  const put = (key: string, fields: Record<string, unknown>) => redis.command('SET', key, text(fields));

  /**
   * Waits until every invalidation Redis sent `store` before this call has
   * arrived: they come in order on one connection, so once a key written now
   * is reported, every earlier one was.
   */
  async function fence(store: RedisStore): Promise<void> {
    const key = `fence:${++fences}`;
    await redis.command('SET', key, text({}));
    await store.get(key);
    await heard(store, key, () => redis.command('SET', key, text({ n: 1 })));
  }

  before(async () => {
    redis = await RedisServer.start({ label: 'cache' });
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.quit()));
    await Promise.all(cleanups.splice(0).map((end) => end()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });
  after(stopAllRedis);

  describe('reads, writes and counters', () => {
    it('serves repeated reads from the process, counts hits and misses, and drops a session another connection changed', async () => {
      const store = cached();
      await trackingOn(store);
      await put('koa:sess:a', { v: 1 });
      for (let i = 0; i < 3; i++) expect(await store.get('koa:sess:a')).to.deep.include({ v: 1 });
      expect(store.cacheStats()).to.deep.include({ tracking: true, disabled: undefined, entries: 1, hits: 2, misses: 1, invalidations: 0, flushes: 0 });

      expect(await heard(store, 'koa:sess:a', () => put('koa:sess:a', { v: 2 }))).to.deep.equal(['koa:sess:a']);
      expect(store.cacheStats()).to.deep.include({ entries: 0, invalidations: 1 });
      expect(await store.get('koa:sess:a')).to.deep.include({ v: 2 });
      expect(store.cacheStats()).to.deep.include({ hits: 2, misses: 2, entries: 1 });

      // no session is not cached: every read of it asks Redis
      expect(await store.get('koa:sess:none')).to.equal(null);
      expect(await store.get('koa:sess:none')).to.equal(null);
      expect(store.cacheStats()).to.deep.include({ hits: 2, misses: 4, entries: 1 });
    });

    it('keeps at most max sessions: the least recently used goes first, and a read of it goes to Redis', async () => {
      const store = cached({ cache: { max: 3 } });
      await trackingOn(store);
      for (let i = 1; i <= 5; i++) await store.set(`koa:sess:lru${i}`, session({ i }), 60_000);
      expect(store.cacheStats()).to.deep.include({ entries: 3, max: 3, evictions: 2, hits: 0, misses: 0 });
      expect(await store.get('koa:sess:lru1'), 'the oldest was evicted: Redis answers').to.deep.include({ i: 1 });
      expect(store.cacheStats()).to.deep.include({ entries: 3, evictions: 3, hits: 0, misses: 1 });
      // held now: lru4, lru5, lru1 (lru3 made room); a read makes lru4 the most recently used
      expect(await store.get('koa:sess:lru4')).to.deep.include({ i: 4 });
      expect(await store.get('koa:sess:lru2')).to.deep.include({ i: 2 });
      expect(store.cacheStats()).to.deep.include({ entries: 3, evictions: 4, hits: 1, misses: 2 });
      // lru2 took the place of lru5, the least recently used, not of lru4, the oldest in
      expect(await store.get('koa:sess:lru4')).to.deep.include({ i: 4 });
      expect(store.cacheStats()).to.deep.include({ hits: 2, misses: 2 });
      expect(await store.get('koa:sess:lru5')).to.deep.include({ i: 5 });
      expect(store.cacheStats()).to.deep.include({ entries: 3, evictions: 5, hits: 2, misses: 3 });
    });

    it("serves no session past its ttl, counted from before the command was sent, even before Redis's invalidation arrives", async () => {
      // the heartbeat gives up on a PING after commandTimeout by this clock: far off while the test moves it
      const store = cached({ commandTimeout: 3_600_000 });
      await trackingOn(store);
      await redis.command('SET', 'koa:sess:read', text({ v: 'read' }), 'PX', 60_000);
      const clock = new FakeClock();
      try {
        await store.set('koa:sess:written', session({ v: 'written' }), 60_000);
        expect(await store.get('koa:sess:written')).to.deep.include({ v: 'written' });
        expect(await store.get('koa:sess:read')).to.deep.include({ v: 'read' });
        expect(store.cacheStats()).to.deep.include({ hits: 1, misses: 1, entries: 2 });
        // Both gone from Redis without a word to the cache (deleted on the store's own connection, which Redis
        // does not report: NOLOOP): as a session that expired in Redis a moment before its invalidation arrives.
        await (store.client as Redis).del('koa:sess:written', 'koa:sess:read');
        clock.advance(59_999);
        // the heartbeat's lease counts on this clock too: wait for a PONG to vouch for the cache at the new time
        await trackingOn(store);
        expect(await store.get('koa:sess:written'), 'within its ttl the cache answers').to.deep.include({ v: 'written' });
        expect(store.cacheStats()).to.deep.include({ hits: 2, misses: 1 });
        clock.advance(1);
        expect(store.cacheStats()!.tracking, 'the lease still holds').to.equal(true);
        expect(await store.get('koa:sess:written'), 'at its ttl the store asks Redis').to.equal(null);
        // the read entry's ttl is Redis's PTTL, from when the read was sent: at most the 60 s just passed
        expect(await store.get('koa:sess:read')).to.equal(null);
        expect(store.cacheStats()).to.deep.include({ hits: 2, misses: 3, entries: 0 });
      } finally {
        clock.restore();
      }
    });

    it('with the keyPrefix ioredis option: invalidations name the store\'s own keys, and its writes are served from the cache', async () => {
      const store = cached({ keyPrefix: 'tenant1:' });
      await trackingOn(store);
      await redis.command('SET', 'tenant1:koa:sess:p', text({ v: 1 }));
      expect(await store.get('koa:sess:p')).to.deep.include({ v: 1 });
      expect(await store.get('koa:sess:p')).to.deep.include({ v: 1 });
      expect(await heard(store, 'koa:sess:p', () => redis.command('SET', 'tenant1:koa:sess:p', text({ v: 2 })))).to.deep.equal(['koa:sess:p']);
      expect(await store.get('koa:sess:p')).to.deep.include({ v: 2 });

      await store.set('koa:sess:q', session({ v: 3 }), 60_000);
      expect(await redis.command('EXISTS', 'tenant1:koa:sess:q')).to.equal(1);
      expect(await store.get('koa:sess:q')).to.deep.include({ v: 3 });
      expect(store.cacheStats()).to.deep.include({ hits: 2, misses: 2 });
      await heard(store, 'koa:sess:q', () => redis.command('DEL', 'tenant1:koa:sess:q'));
      expect(await store.get('koa:sess:q')).to.equal(null);
    });

    it('a change and a rolling touch by this process keep serving from the cache, and another connection\'s change after them is still heard', async () => {
      const store = cached();
      await trackingOn(store);
      await store.set('koa:sess:own', session({ v: 1 }), 60_000);
      await store.touch('koa:sess:own', 120_000);
      // Redis would have told this process of its own writes without NOLOOP: wait until anything it sent arrived
      await fence(store);
      expect(await store.get('koa:sess:own'), 'the next read after its own writes is a hit').to.deep.include({ v: 1 });
      expect(store.cacheStats()).to.deep.include({ hits: 1, misses: 1 }); // the miss: the fence's key
      expect(Number(await redis.command('PTTL', 'koa:sess:own'))).to.be.above(60_000);
      // its own write ended Redis's tracking of the key; the write script reads it again, so a later change is heard
      await heard(store, 'koa:sess:own', () => put('koa:sess:own', { v: 2 }));
      expect(await store.get('koa:sess:own')).to.deep.include({ v: 2 });
    });
  });

  describe('commands per request (INFO commandstats)', () => {
    const COUNTED = ['get', 'set', 'del', 'pexpire', 'pttl', 'exists', 'evalsha', 'eval'];
    /** What the session requests in `run` sent to Redis, by command; commands run inside a script are counted too. */
    async function sent(run: () => Promise<unknown>): Promise<Record<string, number>> {
      await redis.resetStats();
      await run();
      const stats = await redis.commandStats();
      const out: Record<string, number> = {};
      for (const name of COUNTED) if (stats[name]) out[name] = stats[name]!;
      return out;
    }
    const handler = (ctx: Context) => {
      if (ctx.path === '/change') ctx.session!.n = Number(ctx.session!.n ?? 0) + 1;
      ctx.body = { n: ctx.session!.n ?? null };
    };

    it('a repeated read sends none; a miss, a change and a rolling touch one round trip each (a script)', async () => {
      const store = cached();
      await trackingOn(store);
      const plain = app({ store }, handler);
      const rolling = app({ store, rolling: true }, handler);
      const cookie = cookieOf(await request(plain.callback()).get('/change').expect(200));
      const key = 'koa:sess:' + /koa\.sid=([^;]+)/.exec(cookie)![1]!;
      const get = (koa: typeof plain, path: string) => request(koa.callback()).get(path).set('Cookie', cookie).expect(200);

      await fence(store);
      expect(await sent(() => get(plain, '/')), 'a read after this process wrote the session').to.deep.equal({});
      expect(await sent(() => get(plain, '/')), 'a repeated read').to.deep.equal({});
      // the merge script: it reads the stored value, writes, and reads the key again (EXISTS) to stay tracked
      expect(await sent(() => get(plain, '/change')), 'a change').to.deep.equal({ evalsha: 1, get: 1, set: 1, exists: 1 });
      await fence(store);
      let body: unknown;
      expect(await sent(async () => (body = (await get(plain, '/')).body)), 'a read after its own change').to.deep.equal({});
      expect(body).to.deep.equal({ n: 2 });
      expect(await sent(() => get(rolling, '/')), 'a rolling touch').to.deep.equal({ evalsha: 1, pexpire: 1, exists: 1 });
      await fence(store);
      expect(await sent(() => get(plain, '/')), 'a read after its own touch').to.deep.equal({});

      await heard(store, key, () => redis.command('PEXPIRE', key, 3_600_000));
      expect(await sent(() => get(plain, '/')), 'a miss: GET and PTTL in one script').to.deep.equal({ evalsha: 1, get: 1, pttl: 1 });
      expect(await sent(() => get(plain, '/')), 'and the read after it').to.deep.equal({});
      expect((await get(plain, '/')).body).to.deep.equal({ n: 2 });
    });
  });

  describe('connections', () => {
    it('given client: the store works on a duplicate of it, and Redis never tracks the given connection', async () => {
      const client = new Redis(redis.url);
      cleanups.push(() => client.disconnect());
      const store = new RedisStore({ client, cache: true, connectionName: 'given' });
      stores.push(store);
      expect(store.client).to.not.equal(client);
      await trackingOn(store);
      await client.set('koa:sess:g', text({ v: 1 }));
      expect(await store.get('koa:sess:g')).to.deep.include({ v: 1 });
      expect(await store.get('koa:sess:g')).to.deep.include({ v: 1 });
      expect(store.cacheStats()).to.deep.include({ hits: 1, misses: 1 });

      expect(await trackingInfo(client)).to.deep.equal({ flags: ['off'], redirect: -1 });
      const own = await trackingInfo(store.client as Redis);
      expect(own.flags).to.include.members(['on', 'noloop']);
      expect(String(own.redirect)).to.equal(await clientId(redis, isSubscriber));

      // a change through the given client is another connection's change
      await heard(store, 'koa:sess:g', () => client.set('koa:sess:g', text({ v: 2 })));
      expect(await store.get('koa:sess:g')).to.deep.include({ v: 2 });
      await store.quit();
      expect(client.status).to.equal('ready');
      expect((await clients(redis)).filter((c) => isSubscriber(c.name ?? ''))).to.deep.equal([]);
    });

    it('given an ioredis 6 client, which speaks RESP3: the invalidations still reach the cache', async function () {
      this.timeout(10_000);
      const client = new Redis6(redis.url);
      cleanups.push(() => client.disconnect());
      const store = new RedisStore({ client: client as unknown as Redis, cache: true });
      stores.push(store);
      await trackingOn(store);
      await put('koa:sess:resp3', { v: 1 });
      await store.get('koa:sess:resp3');
      expect(await store.get('koa:sess:resp3')).to.deep.include({ v: 1 });
      expect(store.cacheStats()).to.deep.include({ hits: 1, misses: 1 });
      await heard(store, 'koa:sess:resp3', () => client.set('koa:sess:resp3', text({ v: 2 })));
      expect(await store.get('koa:sess:resp3')).to.deep.include({ v: 2 });
      // its own writes and a flush keep working over RESP3 too
      await store.set('koa:sess:resp3', session({ v: 3 }), 60_000);
      expect(await store.get('koa:sess:resp3')).to.deep.include({ v: 3 });
      const flushed = once(store, 'cacheFlush');
      await client.flushall();
      await flushed;
      expect(await store.get('koa:sess:resp3')).to.equal(null);
      // the command connection, RESP3, is told its redirect broke (a push frame) when the subscriber goes
      const gap = once(store, 'cacheFlush');
      await redis.command('CLIENT', 'KILL', 'ID', await clientId(redis, isSubscriber));
      await gap;
      await client.set('koa:sess:resp3', text({ v: 4 }));
      expect(await store.get('koa:sess:resp3')).to.deep.include({ v: 4 });
      await trackingOn(store);
      await store.get('koa:sess:resp3');
      await heard(store, 'koa:sess:resp3', () => client.set('koa:sess:resp3', text({ v: 5 })));
      expect(await store.get('koa:sess:resp3')).to.deep.include({ v: 5 });
    });

    /** A cached store with `options`, once the package warned about it. */
    async function storeWarned(options: RedisStoreOptions): Promise<{ store: RedisStore; warnings: Array<Error & { code?: string }> }> {
      clearWarned();
      const warnings: Array<Error & { code?: string }> = [];
      const listener = (warning: Error & { code?: string }): void => void (warning.name === 'KoaGenericSessionWarning' && warnings.push(warning));
      process.on('warning', listener);
      try {
        const store = cached(options);
        await waitFor('the warning', () => (warnings.length > 0 ? true : undefined));
        return { store, warnings };
      } finally {
        process.off('warning', listener);
      }
    }

    /** The store reads and writes Redis, and serves every change at once: nothing is cached. */
    async function worksUncached(store: RedisStore, key: string): Promise<void> {
      await store.set(key, session({ v: 1 }), 60_000);
      expect(await store.get(key)).to.deep.include({ v: 1 });
      await put(key, { v: 2 });
      expect(await store.get(key)).to.deep.include({ v: 2 });
      expect(store.cacheStats()).to.deep.include({ tracking: false, hits: 0, misses: 0, entries: 0 });
    }

    it('a user without CLIENT TRACKING (ACL): a warning, the cache stays off, and the store reads and writes Redis', async () => {
      await redis.command('ACL', 'SETUSER', 'notrack', 'on', '>pw', '~*', '&*', '+@all', '-client|tracking');
      const { store, warnings } = await storeWarned({ username: 'notrack', password: 'pw' });
      expect(warnings.map((w) => w.code)).to.deep.equal(['KGS_REDIS_OPTION_IGNORED']);
      expect(warnings[0]!.message).to.match(/^RedisStore's cache is off: the server refused CLIENT TRACKING: NOPERM/);
      expect(store.cacheStats()).to.deep.include({ tracking: false, entries: 0 });
      expect(store.cacheStats()!.disabled).to.match(/NOPERM/);
      await worksUncached(store, 'koa:sess:acl');
    });

    it('a user without the invalidation channel (ACL; Redis 7 gives new users no channel by default): a warning, the cache stays off, and the store works', async () => {
      await redis.command('ACL', 'SETUSER', 'nochannel', 'on', '>pw', '~*', 'resetchannels', '+@all');
      const { store, warnings } = await storeWarned({ username: 'nochannel', password: 'pw' });
      expect(warnings.map((w) => w.code)).to.deep.equal(['KGS_REDIS_OPTION_IGNORED']);
      expect(warnings[0]!.message).to.match(/^RedisStore's cache is off: the server refused SUBSCRIBE __redis__:invalidate: NOPERM/);
      expect(store.cacheStats()!.disabled).to.match(/NOPERM/);
      await worksUncached(store, 'koa:sess:nochannel');
    });

    it('a server older than Redis 7 (its version rewritten by a proxy): a warning, the cache stays off, and the store works', async () => {
      const proxy = await RedisProxy.start(redis.port, { rewriteReplies: (reply) => reply.replace(/redis_version:7\./g, 'redis_version:6.') });
      proxies.push(proxy);
      const { store, warnings } = await storeWarned({ url: proxy.url });
      expect(warnings.map((w) => w.code)).to.deep.equal(['KGS_REDIS_OPTION_IGNORED']);
      expect(warnings[0]!.message).to.match(/^RedisStore's cache is off: the server is Redis 6; the cache needs Redis 7\.0 or later/);
      expect(store.cacheStats()!.disabled).to.match(/Redis 6/);
      await worksUncached(store, 'koa:sess:old');
      expect((await trackingInfo(store.client as Redis)).flags).to.deep.equal(['off']);
    });

    it('cache: false, or no cache option: cacheStats() is undefined and no invalidation connection is made', async () => {
      const stores2 = [new RedisStore({ url: redis.url, cache: false }), new RedisStore({ url: redis.url })];
      stores.push(...stores2);
      await Promise.all(stores2.map((store) => once(store, 'connect')));
      for (const store of stores2) expect(store.cacheStats()).to.equal(undefined);
      expect((await clients(redis)).filter((c) => isSubscriber(c.name ?? ''))).to.deep.equal([]);
    });

    it('rejects a cache option it cannot use with a TypeError naming it', () => {
      const cases: Array<[unknown, RegExp]> = [
        ['yes', /^RedisStore option "cache" must be true, false or \{ max \}, got the string "yes"$/],
        [null, /^RedisStore option "cache" must be true, false or \{ max \}, got null$/],
        [{ maxEntries: 1 }, /^RedisStore option "cache" has no option "maxEntries"/],
        [{ max: 0 }, /^RedisStore option "cache.max" must be a whole number above 0 .*got number 0$/],
        [{ max: 1.5 }, /^RedisStore option "cache.max" must be a whole number above 0 .*got number 1.5$/],
        [{ max: '10' }, /^RedisStore option "cache.max" .*got the string "10"$/],
      ];
      for (const [cache, message] of cases) {
        expect(() => new RedisStore({ url: redis.url, cache } as RedisStoreOptions), JSON.stringify(cache)).to.throw(TypeError, message);
      }
    });
  });

  describe('gaps in the invalidation stream', () => {
    it('CLIENT KILL of the command connection: the cache empties, a change made meanwhile is served, then tracking and hits come back', async () => {
      const store = cached({ connectionName: 'gapcmd' });
      await trackingOn(store);
      await put('koa:sess:k1', { v: 1 });
      await store.get('koa:sess:k1');
      expect(await store.get('koa:sess:k1')).to.deep.include({ v: 1 });
      const flushed = once(store, 'cacheFlush');
      await redis.command('CLIENT', 'KILL', 'ID', await clientId(redis, (name) => name === 'gapcmd'));
      expect((await flushed)[0]).to.match(/^command connection/);
      expect(store.cacheStats()).to.deep.include({ entries: 0, flushes: 1 });
      await put('koa:sess:k1', { v: 2 });
      expect(await store.get('koa:sess:k1')).to.deep.include({ v: 2 });

      await trackingOn(store);
      expect(await store.get('koa:sess:k1')).to.deep.include({ v: 2 });
      const hits = store.cacheStats()!.hits;
      expect(await store.get('koa:sess:k1')).to.deep.include({ v: 2 });
      expect(store.cacheStats()!.hits - hits).to.equal(1);
      await heard(store, 'koa:sess:k1', () => put('koa:sess:k1', { v: 3 }));
      expect(await store.get('koa:sess:k1')).to.deep.include({ v: 3 });
      expect(store.cacheStats()!.flushes).to.equal(1);
    });

    it('CLIENT KILL of the invalidation connection: until tracking is back (held here by a proxy) every read goes to Redis and sees a change made meanwhile', async () => {
      const proxy = await RedisProxy.start(redis.port);
      proxies.push(proxy);
      const store = new RedisStore({ url: proxy.url, cache: true, connectionName: 'gapsub' });
      stores.push(store);
      const flushes: string[] = [];
      store.on('cacheFlush', (reason) => flushes.push(reason));
      await trackingOn(store);
      await put('koa:sess:k2', { v: 1 });
      await store.get('koa:sess:k2');
      expect(await store.get('koa:sess:k2')).to.deep.include({ v: 1 });

      proxy.holdNew();
      await redis.command('CLIENT', 'KILL', 'ID', await clientId(redis, (name) => name.startsWith('gapsub:invalidations:')));
      // it has seen the connection close once it connects again (the proxy holds that connection)
      await waitFor('the invalidation connection to connect again', () => (proxy.waiting > 0 ? true : undefined));
      await put('koa:sess:k2', { v: 2 });
      expect(await store.get('koa:sess:k2'), 'no stale read while nobody tells the cache of changes').to.deep.include({ v: 2 });
      expect(await store.get('koa:sess:k2')).to.deep.include({ v: 2 });
      expect(flushes).to.have.length(1);
      expect(flushes[0]).to.match(/^invalidation connection/);
      expect(store.cacheStats()).to.deep.include({ tracking: false, entries: 0, flushes: 1, hits: 1 });

      proxy.releaseNew();
      await trackingOn(store);
      expect(await store.get('koa:sess:k2')).to.deep.include({ v: 2 });
      expect(await store.get('koa:sess:k2')).to.deep.include({ v: 2 });
      expect(store.cacheStats()).to.deep.include({ hits: 2 });
      await heard(store, 'koa:sess:k2', () => put('koa:sess:k2', { v: 3 }));
      expect(await store.get('koa:sess:k2')).to.deep.include({ v: 3 });
    });

    it('the command connection lost while the invalidation connection subscribes: tracking comes back once both are up', async () => {
      const proxy = await RedisProxy.start(redis.port);
      proxies.push(proxy);
      proxy.holdRepliesWhen((sent) => sent.includes('flap:invalidations:') && sent.includes('$2\r\nID\r\n'));
      const store = new RedisStore({ url: proxy.url, cache: true, connectionName: 'flap' });
      stores.push(store);
      await once(store, 'connect');
      // the invalidation connection asked for its id (CLIENT ID) before subscribing: the reply waits in the proxy
      const subscriber = await waitFor("the invalidation connection's CLIENT ID", () => proxy.find((c) => c.heldBytes > 0));
      const back = once(store, 'connect');
      await redis.command('CLIENT', 'KILL', 'ID', await clientId(redis, (name) => name === 'flap'));
      await back;
      subscriber.releaseReplies();
      await trackingOn(store);
      await put('koa:sess:flap', { v: 1 });
      await store.get('koa:sess:flap');
      expect(await store.get('koa:sess:flap')).to.deep.include({ v: 1 });
      expect(store.cacheStats()).to.deep.include({ hits: 1 });
      await heard(store, 'koa:sess:flap', () => put('koa:sess:flap', { v: 2 }));
      expect(await store.get('koa:sess:flap')).to.deep.include({ v: 2 });
    });

    it('FLUSHALL: the cache empties and serves again without reconnecting; the flushed session is not served, a new one is cached and tracked', async () => {
      const store = cached();
      await trackingOn(store);
      await put('koa:sess:k3', { v: 1 });
      await store.get('koa:sess:k3');
      expect(await store.get('koa:sess:k3')).to.deep.include({ v: 1 });
      const flushed = once(store, 'cacheFlush');
      await redis.command('FLUSHALL');
      expect((await flushed)[0]).to.match(/flushed/);
      expect(store.cacheStats()).to.deep.include({ entries: 0, flushes: 1 });
      // no connection was lost: the next PONG is all it takes
      await trackingOn(store);
      expect(await store.get('koa:sess:k3')).to.equal(null);
      // that read was tracked too: its key's change is reported
      await heard(store, 'koa:sess:k3', () => put('koa:sess:k3', { v: 2 }));
      expect(await store.get('koa:sess:k3')).to.deep.include({ v: 2 });
      expect(await store.get('koa:sess:k3')).to.deep.include({ v: 2 });
      expect(store.cacheStats()).to.deep.include({ hits: 2, misses: 3 });
      await heard(store, 'koa:sess:k3', () => put('koa:sess:k3', { v: 3 }));
      expect(await store.get('koa:sess:k3')).to.deep.include({ v: 3 });
    });

    // last in this file's server: it is restarted empty
    it('a redis-server restart: the cache empties, nothing from before is served, tracking and hits come back', async () => {
      const store = cached();
      await trackingOn(store);
      await put('koa:sess:k4', { v: 1 });
      await store.get('koa:sess:k4');
      expect(await store.get('koa:sess:k4')).to.deep.include({ v: 1 });
      const flushes: string[] = [];
      store.on('cacheFlush', (reason) => flushes.push(reason));
      const down = once(store, 'disconnect');
      await redis.kill();
      await down;
      await redis.start();
      await put('koa:sess:k4', { v: 2 });
      expect(await store.get('koa:sess:k4')).to.deep.include({ v: 2 });
      expect(flushes).to.have.length(1);
      expect(flushes[0]).to.match(/connection/);
      expect(store.cacheStats()).to.deep.include({ flushes: 1 });

      await trackingOn(store);
      await store.get('koa:sess:k4');
      const hits = store.cacheStats()!.hits;
      expect(await store.get('koa:sess:k4')).to.deep.include({ v: 2 });
      expect(store.cacheStats()!.hits - hits).to.equal(1);
      await heard(store, 'koa:sess:k4', () => put('koa:sess:k4', { v: 3 }));
      expect(await store.get('koa:sess:k4')).to.deep.include({ v: 3 });
    });
  });

  describe('replies and invalidations that cross (a proxy holds the command connection\'s replies)', () => {
    /** A cached store behind a proxy, tracking; its command connection, found by name. */
    async function heldStore(name: string) {
      const proxy = await RedisProxy.start(redis.port);
      proxies.push(proxy);
      const store = new RedisStore({ url: proxy.url, cache: true, connectionName: name });
      stores.push(store);
      await trackingOn(store);
      // the scripts are loaded, so each command below is one EVALSHA and one reply
      await store.get('koa:sess:warm');
      await store.set('koa:sess:warm', session({}), 60_000);
      const conn = proxy.find((c) => c.sent.includes(name) && !c.sent.includes(':invalidations:'));
      if (conn === undefined) throw new Error('no command connection through the proxy');
      return { store, conn };
    }

    it('a read whose reply comes after an invalidation of its key is not cached (the value it read may be older than the change)', async () => {
      const { store, conn } = await heldStore('race-read');
      await put('koa:sess:r1', { v: 1 });
      conn.holdReplies();
      const reading = store.get('koa:sess:r1');
      await once(conn, 'held'); // Redis ran the read: the reply waits in the proxy
      await heard(store, 'koa:sess:r1', () => put('koa:sess:r1', { v: 2 }));
      conn.releaseReplies();
      expect(await reading, 'what Redis held when it ran the read').to.deep.include({ v: 1 });
      expect(store.cacheStats()).to.deep.include({ entries: 1 }); // the warm-up's write only
      expect(await store.get('koa:sess:r1')).to.deep.include({ v: 2 });
    });

    it("this process's write whose reply comes after another connection's change is not cached", async () => {
      const { store, conn } = await heldStore('race-write');
      await store.set('koa:sess:r2', session({ v: 1 }), 60_000);
      // a key of its own to wait on (see fence): once its invalidation came, any for koa:sess:r2 came before it
      await redis.command('SET', 'koa:sess:r2-fence', text({}));
      await store.get('koa:sess:r2-fence');
      conn.holdReplies();
      const writing = store.set('koa:sess:r2', session({ v: 2 }), 60_000);
      await once(conn, 'held');
      await put('koa:sess:r2', { v: 3 });
      await heard(store, 'koa:sess:r2-fence', () => put('koa:sess:r2-fence', { n: 1 }));
      conn.releaseReplies();
      await writing;
      expect(await store.get('koa:sess:r2')).to.deep.include({ v: 3 });
    });

    it('an invalidation connection that reached another server than the command connection never turns tracking on', async () => {
      // The proxy sends the invalidation connection to `other` and everything else to the test's server, as two
      // connections may reach different servers for a while during a failover. Client ids repeat between servers:
      // the test's server gets a live connection under every id the invalidation connection may get on `other`, so
      // a redirect by id alone would succeed there and send the invalidations to a stranger.
      const other = await RedisServer.start({ label: 'cache-other' });
      cleanups.push(() => other.remove());
      const proxy = await RedisProxy.start(redis.port, { route: (first) => (first.includes(':invalidations:') ? other.port : redis.port) });
      proxies.push(proxy);
      const idOf = async (port: number) => Number(await rawCommand(port, ['CLIENT', 'ID']));
      let next = await idOf(other.port);
      const mine = await idOf(redis.port);
      while (next < mine) next = await idOf(other.port);
      for (;;) {
        const stranger = new Redis(redis.url);
        cleanups.push(() => stranger.disconnect());
        if (Number(await stranger.client('ID')) > next + 30) break;
      }
      const store = new RedisStore({ url: proxy.url, cache: true, connectionName: 'split' });
      stores.push(store);
      const subscriberConnections = () => proxy.connections.filter((c) => c.sent.includes('split:invalidations:')).length;
      await waitFor('three attempts of the invalidation connection (or tracking turned on)', () =>
        subscriberConnections() >= 3 || store.cacheStats()!.tracking ? true : undefined,
      );
      await put('koa:sess:split', { v: 1 });
      expect(await store.get('koa:sess:split')).to.deep.include({ v: 1 });
      expect(await store.get('koa:sess:split')).to.deep.include({ v: 1 });
      await put('koa:sess:split', { v: 2 });
      expect(await store.get('koa:sess:split'), 'a change is served at once').to.deep.include({ v: 2 });
      expect(store.cacheStats()).to.deep.include({ tracking: false, hits: 0 });
      expect((await trackingInfo(store.client as Redis)).flags).to.deep.equal(['off']);
    });
  });
});

describe('RedisStore cache with Sentinel: a failover (real master, replica and sentinel)', function () {
  let set: RedisSentinel;
  const stores: RedisStore[] = [];
  before(async () => {
    set = await RedisSentinel.start();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.quit()));
  });
  after(stopAllRedis);

  it('the cache empties, comes back on the new master, and serves a change another store made there, never the old value', async () => {
    const cachedStore = new RedisStore({ sentinels: set.sentinelNodes, name: set.name, cache: true, connectionName: 'failover' });
    const other = new RedisStore({ sentinels: set.sentinelNodes, name: set.name });
    stores.push(cachedStore, other);
    await once(other, 'connect');
    await trackingOn(cachedStore);
    await other.set('koa:sess:f', session({ v: 1 }), 600_000);
    // on the replica before the master dies (WAIT counts this connection's writes)
    expect(await (other.client as Redis).wait(1, 5000)).to.equal(1);
    await cachedStore.get('koa:sess:f');
    expect(await cachedStore.get('koa:sess:f')).to.deep.include({ v: 1 });
    expect(cachedStore.cacheStats()).to.deep.include({ hits: 1, misses: 1 });

    const flushed = once(cachedStore, 'cacheFlush');
    const newMaster = await set.failover();
    await flushed;
    expect(cachedStore.cacheStats()).to.deep.include({ entries: 0, flushes: 1 });
    // written on the new master as soon as the other store finds it, whatever the cached store's state
    await other.set('koa:sess:f', session({ v: 2 }), 600_000);
    expect(await cachedStore.get('koa:sess:f')).to.deep.include({ v: 2 });

    await trackingOn(cachedStore, 20_000);
    const subscriber = (await clients(newMaster)).filter((c) => c.name?.startsWith('failover:invalidations:'));
    expect(subscriber, 'the invalidation connection is on the new master').to.have.length(1);
    await cachedStore.get('koa:sess:f');
    const hits = cachedStore.cacheStats()!.hits;
    expect(await cachedStore.get('koa:sess:f')).to.deep.include({ v: 2 });
    expect(cachedStore.cacheStats()!.hits - hits).to.equal(1);
    const told = invalidation(cachedStore, 'koa:sess:f');
    await other.set('koa:sess:f', session({ v: 3 }), 600_000);
    await told;
    expect(await cachedStore.get('koa:sess:f')).to.deep.include({ v: 3 });
  });
});

describe('RedisStore cache on a Cluster (3 masters)', function () {
  const deployment = cluster();
  let store: RedisStore | undefined;
  before(() => deployment.start());
  afterEach(() => store?.quit());
  after(stopAllRedis);

  it('is ignored with a warning: cacheStats() is undefined and the store reads and writes as without it', async () => {
    clearWarned();
    const warnings = await warningsDuring(() => (store = deployment.store({ cache: { max: 10 } })));
    expect(warnings.map((w) => w.code)).to.deep.equal(['KGS_REDIS_OPTION_IGNORED']);
    expect(warnings[0]!.message).to.match(/^RedisStore ignores "cache" on a Cluster/);
    await once(store!, 'connect');
    expect(store!.cacheStats()).to.equal(undefined);
    await store!.set('koa:sess:c', session({ v: 1 }), 60_000);
    expect(await store!.get('koa:sess:c')).to.deep.include({ v: 1 });
    const node = await deployment.nodeFor('koa:sess:c');
    await node.command('SET', 'koa:sess:c', text({ v: 2 }));
    expect(await store!.get('koa:sess:c')).to.deep.include({ v: 2 });
  });
});
