import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import { Redis } from 'ioredis';
import Koa from 'koa';
import { app, agent, cookieValue } from './support/app.js';
import { RedisServer, stopAllRedis, waitFor } from './support/redis.js';
import { RedisStore, RedisStoreConnectionError, RedisStoreTimeoutError } from '../lib/store/redis.js';
import session, { SessionStoreUnavailableError, type Session, type StoreStatus } from '../lib/index.js';

const RECONNECT_TIMEOUT = 1000;

function keyOf(res: { headers: Record<string, unknown> }): string {
  return 'koa:sess:' + cookieValue(res, 'koa.sid');
}

/** Records the store's connect/disconnect events in order. */
function recordEvents(store: RedisStore): string[] {
  const events: string[] = [];
  store.on('connect', () => events.push('connect'));
  store.on('disconnect', () => events.push('disconnect'));
  return events;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('RedisStore outages (real redis-server)', function () {
  let redis: RedisServer;
  let store: RedisStore | undefined;

  before(async () => {
    // AOF with fsync always: what was acknowledged before a SIGKILL is there after the restart
    redis = await RedisServer.start({ persistence: true, label: 'outage' });
  });
  afterEach(async () => {
    await store?.quit();
    store = undefined;
    if (!redis.running) await redis.start();
    if (redis.paused) redis.resume();
  });
  after(stopAllRedis);

  describe('SIGKILL, then a restart on the same port', () => {
    it('reports disconnect then connect once each, fails waiting requests after reconnectTimeout, serves sessions again after the restart', async () => {
      store = new RedisStore({ url: redis.url });
      const events = recordEvents(store);
      await once(store, 'connect');
      const errors: unknown[] = [];
      const middleware = session({ store, reconnectTimeout: RECONNECT_TIMEOUT });
      const statuses: StoreStatus[] = [];
      middleware.on('status', (status) => statuses.push(status));
      const koa = new Koa();
      koa.keys = ['outage test key'];
      koa.use(middleware);
      koa.use((ctx: Context) => {
        if (ctx.path === '/login') ctx.session!.user = 'ann';
        ctx.body = { user: ctx.session!.user ?? null };
      });
      koa.on('error', (err: unknown) => errors.push(err));
      const a = agent(koa);
      await a.get('/login').expect(200);

      const delays: number[] = [];
      (store.client as Redis).on('reconnecting', (delay: number) => delays.push(delay));
      const printed: string[] = [];
      const consoleError = console.error;
      console.error = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
      try {
        const down = once(store, 'disconnect');
        await redis.kill();
        await down;

        // waits in the watcher's window (reconnectTimeout), then fails with its error, not ioredis's
        expect(statuses).to.deep.equal(['pending']);
        await a.get('/').expect(503, "Service Unavailable");
        expect(statuses).to.deep.equal(['pending', 'unavailable']);
        expect(errors).to.have.length(1);
        const waited = errors[0] as SessionStoreUnavailableError;
        expect(waited).to.be.an.instanceOf(SessionStoreUnavailableError);
        expect(waited.code).to.equal('ERR_SESSION_STORE_UNAVAILABLE');
        expect(waited.message).to.equal('session store is unavailable');
        expect(waited.waitedMs).to.be.above(0);
        // once the window is over, requests fail at once
        await a.get('/').expect(503, "Service Unavailable");
        expect((errors[1] as SessionStoreUnavailableError).waitedMs).to.equal(0);

        // many reconnect attempts, each a close + reconnecting: still one disconnect
        await waitFor('five reconnect attempts', () => (delays.length >= 5 ? true : undefined));
        expect(events).to.deep.equal(['connect', 'disconnect']);
      } finally {
        console.error = consoleError;
      }
      expect(printed.filter((line) => line.includes('Unhandled error event'))).to.deep.equal([]);

      const connected = once(store, 'connect');
      await redis.start();
      const restarted = Date.now();
      await connected;
      let served = false;
      while (!served) served = (await a.get('/')).status === 200;
      const recoveryMs = Date.now() - restarted;
      console.log(`      recovery: sessions served again ${recoveryMs}ms after redis-server answered PING`);
      expect((await a.get('/').expect(200)).body).to.deep.equal({ user: 'ann' });
      expect(events).to.deep.equal(['connect', 'disconnect', 'connect']);
      expect(statuses).to.deep.equal(['pending', 'unavailable', 'available']);
      // the retry delays are capped, so recovery never waits long for the next attempt
      expect(Math.max(...delays)).to.be.at.most(500);
    });

    it('a save the watcher gave up on does not land after the restart', async () => {
      store = new RedisStore({ url: redis.url });
      await once(store, 'connect');
      let entered!: () => void;
      const inHandler = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const errors: unknown[] = [];
      const koa = app({ store, reconnectTimeout: RECONNECT_TIMEOUT }, async (ctx: Context) => {
        if (ctx.path === '/slow') {
          entered();
          await released;
          ctx.session!.user = 'late';
        } else {
          ctx.session!.user = 'ann';
        }
        ctx.body = 'ok';
      });
      koa.on('error', (err: unknown) => errors.push(err));
      const a = agent(koa);
      const key = keyOf(await a.get('/login').expect(200));

      // the session was loaded before the outage; the save comes during it
      const slow = a.get('/slow').then((res) => res.status);
      await inHandler;
      const down = once(store, 'disconnect');
      await redis.kill();
      await down;
      release();
      expect(await slow).to.equal(503);
      expect(errors[0]).to.be.an.instanceOf(SessionStoreUnavailableError);

      const connected = once(store, 'connect');
      await redis.start();
      await connected;
      expect(((await store.get(key)) as Session).user).to.equal('ann');
    });

    it('drops a write sent during the outage instead of replaying it after the restart (ioredis defaults replay it)', async () => {
      store = new RedisStore({ url: redis.url });
      await once(store, 'connect');
      const plain = new Redis(redis.url); // ioredis defaults, for contrast
      plain.on('error', () => {});
      try {
        await once(plain, 'ready');
        await store.set('k', { cookie: {}, v: 'old' }, 60_000);
        await plain.set('plain', 'old');

        const down = once(store, 'disconnect');
        await redis.kill();
        await down;
        const dropped = store.set('k', { cookie: {}, v: 'late' }, 60_000);
        const replayed = plain.set('plain', 'late');
        const err = await rejection(dropped);
        expect(err).to.be.an.instanceOf(RedisStoreConnectionError);
        expect((err as RedisStoreConnectionError).code).to.equal('ERR_SESSION_STORE_CONNECTION');

        const connected = once(store, 'connect');
        await redis.start();
        await connected;
        await replayed;
        expect(((await store.get('k')) as Session).v).to.equal('old');
        expect(await plain.get('plain')).to.equal('late');
      } finally {
        plain.disconnect();
      }
    });
  });

  describe('a server that stops answering (SIGSTOP, then SIGCONT)', () => {
    /**
     * Resolves once the server has run the write that timed out (a script, or
     * a plain SET without the guard; the only write since `resetStats()`):
     * only then does "it did not land" mean anything. The guardWrites: false
     * control shows the same wait sees a late write land.
     */
    const lateWriteRan = () =>
      waitFor('the timed-out write to run on the resumed server', async () => {
        const stats = await redis.commandStats();
        return (stats.evalsha ?? 0) + (stats.eval ?? 0) + (stats.set ?? 0) >= 1 ? true : undefined;
      });

    it('times the command out, reports disconnect, fails waiting requests, and the timed-out write never lands', async () => {
      store = new RedisStore({ url: redis.url, commandTimeout: 300 });
      const events = recordEvents(store);
      await once(store, 'connect');
      await store.set('k', { cookie: {}, v: 'old' }, 60_000);
      await redis.resetStats();
      const errors: unknown[] = [];
      const koa = app({ store, reconnectTimeout: 500 }, (ctx: Context) => {
        ctx.body = 'ok';
      });
      koa.on('error', (err: unknown) => errors.push(err));

      redis.pause();
      const err = await rejection(store.set('k', { cookie: {}, v: 'late' }, 60_000));
      expect(err).to.be.an.instanceOf(RedisStoreTimeoutError);
      expect(err).to.include({ code: 'ERR_SESSION_STORE_TIMEOUT', command: 'SET', timeoutMs: 300 });
      expect(events).to.deep.equal(['connect', 'disconnect']);
      await agent(koa).get('/').expect(503);
      expect(errors[0]).to.be.an.instanceOf(SessionStoreUnavailableError);

      const connected = once(store, 'connect');
      redis.resume(); // the server now reads the buffered SET: the guard refuses it
      await connected;
      await lateWriteRan();
      expect(((await store.get('k')) as Session).v).to.equal('old');
      expect(events).to.deep.equal(['connect', 'disconnect', 'connect']);
    });

    it('with guardWrites: false the timed-out SET does land when the server resumes (the trade-off)', async () => {
      store = new RedisStore({ url: redis.url, commandTimeout: 300, guardWrites: false });
      await once(store, 'connect');
      await store.set('k', { cookie: {}, v: 'old' }, 60_000);
      await redis.resetStats();
      redis.pause();
      expect(await rejection(store.set('k', { cookie: {}, v: 'late' }, 60_000))).to.be.an.instanceOf(
        RedisStoreTimeoutError,
      );
      const connected = once(store, 'connect');
      redis.resume();
      await connected;
      await lateWriteRan();
      expect(((await store.get('k')) as Session).v).to.equal('late');
    });
  });
});
