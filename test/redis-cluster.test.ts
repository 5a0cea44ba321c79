import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import { app, agent, cookieValue } from './support/app.js';
import { RedisCluster, stopAllRedis, waitFor, type RedisServer } from './support/redis.js';
import { RedisStore, RedisStoreTimeoutError } from '../lib/store/redis.js';
import type { Session } from '../lib/index.js';

// enough users that all three masters get some (12 missed one about 2% of the time)
const USERS = 40;

describe('RedisStore on a Redis Cluster (3 masters, real redis-server processes)', function () {
  let cluster: RedisCluster;
  let store: RedisStore;
  let events: string[] = [];
  let errors: unknown[] = [];
  let agents: Array<ReturnType<typeof agent>>;
  let keys: string[];

  before(async () => {
    cluster = await RedisCluster.start({ masters: 3, persistence: true });
    store = new RedisStore({ cluster: cluster.startupNodes });
    store.on('connect', () => events.push('connect'));
    store.on('disconnect', () => events.push('disconnect'));
    await once(store, 'connect');
    const koa = app({ store }, (ctx: Context) => {
      if (ctx.path.startsWith('/login/')) ctx.session!.user = ctx.path.slice(7);
      ctx.body = { user: ctx.session!.user ?? null };
    });
    koa.on('error', (err: unknown) => errors.push(err));
    agents = [];
    keys = [];
    for (let i = 0; i < USERS; i++) {
      const a = agent(koa);
      const res = await a.get(`/login/user${i}`).expect(200);
      agents.push(a);
      keys.push('koa:sess:' + cookieValue(res, 'koa.sid'));
    }
  });
  // each test sees only the events and errors of its own time, and starts with every node up and serving
  beforeEach(async () => {
    events = [];
    errors = [];
    await cluster.waitHealthy();
    await waitFor('every session served', async () => (JSON.stringify(await readAll()) === JSON.stringify(expected()) ? true : undefined));
    events = [];
    errors = [];
  });
  after(async () => {
    await store?.quit();
    await stopAllRedis();
  });

  /** GET / for every user in parallel: the user name served, or the HTTP status. */
  const readAll = () =>
    Promise.all(agents.map(async (a) => {
      const res = await a.get('/');
      return res.status === 200 ? (res.body as { user: string }).user : res.status;
    }));
  const expected = () => keys.map((_, i) => `user${i}`);
  /** Starts every node that a test stopped, whatever the test came to. */
  const restartStopped = async () => {
    for (const node of cluster.nodes) {
      if (node.paused) node.resume();
      if (!node.running) await node.start();
    }
  };

  it('round-trips sessions spread over the slots of all three masters', async () => {
    const owners = new Set<number>();
    for (const key of keys) owners.add((await cluster.nodeForKey(key)).port);
    expect(owners.size).to.equal(3);
    expect(await readAll()).to.deep.equal(expected());
  });

  it('one master down: no disconnect, the other masters keep serving, its sessions fail with a coded error until it is back', async () => {
    const victim: RedisServer = await cluster.nodeForKey(keys[0]!);
    const onVictim: boolean[] = [];
    for (const key of keys) onVictim.push((await cluster.nodeForKey(key)) === victim);
    try {
      await victim.kill();

      const during = await readAll();
      during.forEach((result, i) => expect(result).to.equal(onVictim[i] ? 503 : `user${i}`));
      expect(errors).to.have.length(onVictim.filter(Boolean).length);
      for (const err of errors) {
        expect((err as { code?: string }).code).to.be.oneOf(['ERR_SESSION_STORE_CONNECTION', 'ERR_SESSION_STORE_TIMEOUT']);
      }
      expect(events).to.deep.equal([]);

      await victim.start();
      const restarted = Date.now();
      let results = await readAll();
      while (results.some((r) => r === 503)) results = await readAll();
      console.log(`      a restarted master served its sessions again ${Date.now() - restarted}ms after answering PING`);
      expect(results).to.deep.equal(expected());
      expect(events).to.deep.equal([]);
    } finally {
      await restartStopped();
    }
  });

  it('one master frozen (SIGSTOP): its commands time out without a disconnect, and the timed-out write is refused when it resumes', async () => {
    const quick = new RedisStore({ cluster: cluster.startupNodes, commandTimeout: 300 });
    const quickEvents: string[] = [];
    quick.on('disconnect', () => quickEvents.push('disconnect'));
    const frozen = await cluster.nodeForKey(keys[0]!);
    try {
      await once(quick, 'connect');
      const other = [] as string[];
      for (const key of keys) if ((await cluster.nodeForKey(key)) !== frozen) other.push(key);
      const before = (await quick.get(keys[0]!)) as Session;
      frozen.pause();
      let error: unknown;
      try {
        await quick.set(keys[0]!, { ...before, user: 'late' }, 60_000);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.an.instanceOf(RedisStoreTimeoutError);
      expect(((await quick.get(other[0]!)) as Session).user).to.match(/^user\d+$/);
      frozen.resume();
      // queued behind the buffered write on the same node connection: it runs after it
      expect(((await quick.get(keys[0]!)) as Session).user).to.equal('user0');
      expect(quickEvents).to.deep.equal([]);
    } finally {
      frozen.resume();
      await quick.quit();
    }
  });

  it('the whole cluster down: one disconnect, one connect when it is back, sessions kept', async () => {
    try {
      const down = once(store, 'disconnect');
      await Promise.all(cluster.nodes.map((node) => node.kill()));
      await down;
      const up = once(store, 'connect');
      await Promise.all(cluster.nodes.map((node) => node.start()));
      await up;
      expect(events).to.deep.equal(['disconnect', 'connect']);
      expect(await readAll()).to.deep.equal(expected());
    } finally {
      await restartStopped();
    }
  });
});
