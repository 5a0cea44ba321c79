import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import type { Redis } from 'ioredis';
import { app, agent, cookieValue } from './support/app.js';
import { RedisSentinel, freePort, stopAllRedis, waitFor } from './support/redis.js';
import { RedisStore } from '../lib/store/redis.js';
import type { SessionMiddleware } from '../lib/index.js';

describe('RedisStore with Sentinel (real redis-server processes)', function () {
  let store: RedisStore | undefined;
  afterEach(async () => {
    await store?.quit();
    store = undefined;
  });
  after(stopAllRedis);

  for (const sentinels of [1, 3] as const) {
  it(`${sentinels} sentinel${sentinels > 1 ? 's' : ''}: after a failover (master killed) sessions written before are read through the new master, and new ones are stored there`, async () => {
    const set = await RedisSentinel.start({ sentinels });
    store = new RedisStore({ sentinels: set.sentinelNodes, name: set.name });
    const events: string[] = [];
    store.on('connect', () => events.push('connect'));
    store.on('disconnect', () => events.push('disconnect'));
    await once(store, 'connect');
    const koa = app({ store, reconnectTimeout: 15_000 }, (ctx: Context) => {
      if (ctx.path.startsWith('/login/')) ctx.session!.user = ctx.path.slice(7);
      ctx.body = { user: ctx.session!.user ?? null };
    });
    // the session middleware runs synchronously until it waits: note the watcher's status then
    const sessions = koa.middleware[0] as SessionMiddleware;
    let watchArrivals: ((status: string) => void) | undefined;
    koa.middleware.unshift((_ctx, next) => {
      const rest = next();
      watchArrivals?.(sessions.status);
      return rest;
    });
    const ann = agent(koa);
    await ann.get('/login/ann').expect(200);
    // acknowledged by the replica before the master dies (WAIT counts this connection's writes)
    expect(await (store.client as Redis).wait(1, 5000)).to.equal(1);

    let arrived!: (status: string) => void;
    const arrival = new Promise<string>((resolve) => (arrived = resolve));
    watchArrivals = arrived;
    const order: string[] = [];
    const down = once(store, 'disconnect');
    const up = once(store, 'connect').then(() => order.push('connect'));
    const failover = set.failover();
    await down;
    // a request sent during the failover waits in the middleware, and is served by the new master once it is known
    const during = ann.get('/').then((res) => (order.push('answered'), res));
    expect(await arrival).to.equal('pending');
    const newMaster = await failover;
    await up;
    expect(newMaster).to.equal(set.replica);
    const answer = await during;
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.equal({ user: 'ann' });
    expect(order).to.deep.equal(['connect', 'answered']);
    expect((await ann.get('/').expect(200)).body).to.deep.equal({ user: 'ann' });

    const bob = await agent(koa).get('/login/bob').expect(200);
    expect(await newMaster.command('EXISTS', 'koa:sess:' + cookieValue(bob, 'koa.sid'))).to.equal(1);
    expect(events).to.deep.equal(['connect', 'disconnect', 'connect']);
  });
  }

  it('reports disconnect once when no sentinel can be reached (ioredis only repeats an error, with no close)', async () => {
    store = new RedisStore({ sentinels: [{ host: '127.0.0.1', port: await freePort() }], name: 'mymaster' });
    const events: string[] = [];
    store.on('disconnect', () => events.push('disconnect'));
    store.on('connect', () => events.push('connect'));
    const client = store.client as Redis;
    let closes = 0;
    let unreachable = 0;
    client.on('close', () => closes++);
    client.on('error', (err: Error) => /All sentinels are unreachable/.test(err.message) && unreachable++);
    await waitFor('three "All sentinels are unreachable" errors', () => (unreachable >= 3 ? true : undefined));
    expect(closes).to.equal(0);
    expect(client.status).to.equal('connecting');
    expect(events).to.deep.equal(['disconnect']);
    expect(store.status).to.equal('disconnected');
  });
});
