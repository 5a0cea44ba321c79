import { expect } from 'chai';
import { once } from 'node:events';
import request from 'supertest';
import session, { type SessionMiddleware } from '../lib/index.js';
import { RedisStore, type RedisClient } from '../lib/store/redis.js';
import { OWNER_PRUNE_GRACE_MS, OWNER_READ, OWNER_REMOVE, WRITE } from '../lib/store/redis-scripts.js';
import { RedisCluster, RedisServer, stopAllRedis, waitFor, type RespValue } from './support/redis.js';
import { cookieOf, expectDevices, login, ownersApp } from './support/owners-app.js';

/**
 * Counts what the store sends through `client.sendCommand` (the top-level
 * commands; a Cluster's routing to its nodes is below it) and the round trips:
 * a round trip starts with a command sent after a reply came back, so commands
 * sent together count as one.
 */
function roundTripCounter(client: RedisClient) {
  const events: Array<'send' | 'reply'> = [];
  const target = client as unknown as { sendCommand: (command: { promise: Promise<unknown> }, ...rest: unknown[]) => unknown };
  const original = target.sendCommand.bind(client);
  target.sendCommand = (command, ...rest) => {
    events.push('send');
    const result = original(command, ...rest);
    command.promise.then(
      () => events.push('reply'),
      () => events.push('reply'),
    );
    return result;
  };
  return {
    async measure(run: () => Promise<unknown>): Promise<{ commands: number; roundTrips: number }> {
      events.length = 0;
      await run();
      const commands = events.filter((e) => e === 'send').length;
      const roundTrips = events.filter((e, i) => e === 'send' && events[i - 1] !== 'send').length;
      return { commands, roundTrips };
    },
  };
}

interface Deployment {
  label: string;
  store: (options?: ConstructorParameters<typeof RedisStore>[0]) => Promise<RedisStore>;
  nodes: () => RedisServer[];
  nodeFor: (key: string) => Promise<RedisServer>;
  slotOf?: (key: string) => Promise<number>;
}

/** Every key on every node. */
async function allKeys(d: Deployment): Promise<string[]> {
  const keys: string[] = [];
  for (const node of d.nodes()) keys.push(...((await node.command('KEYS', '*')) as string[]));
  return keys.sort();
}

/** A command on the node that serves `key`. */
async function on(d: Deployment, key: string, ...args: Array<string | number>): Promise<RespValue> {
  return (await d.nodeFor(key)).command(...args);
}

function ownerSuite(make: () => Promise<Deployment>, teardown: () => Promise<void>) {
  let d: Deployment;
  let store: RedisStore;
  const opened: RedisStore[] = [];

  before(async function () {
    this.timeout(60_000);
    d = await make();
  });
  after(teardown);
  beforeEach(async () => {
    for (const node of d.nodes()) await node.command('FLUSHALL');
    store = await d.store();
    opened.push(store);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.quit()));
  });

  const zcard = (owner: string) => on(d, `koa:owner:{${owner}}`, 'ZCARD', `koa:owner:{${owner}}`);

  it('two owners on many devices: each lists its own, with opaque handles, times and ttl; only session and owner keys are written', async () => {
    const { app, mw } = ownersApp({ store });
    const ann = await Promise.all(Array.from({ length: 6 }, () => login(app, 'ann')));
    await Promise.all(Array.from({ length: 4 }, () => login(app, 'bob')));
    expect(await mw.listSessions('ann')).to.have.length(6);
    expect(await mw.listSessions('bob')).to.have.length(4);
    expect(await mw.listSessions('carol')).to.deep.equal([]);
    const devices = (await request(app.callback()).get('/devices').set('Cookie', ann[0]!.cookie)).body as Array<Record<string, unknown>>;
    expectDevices(devices, 6, ann);
    for (const device of devices) expect(Date.now() - Date.parse(device.savedAt as string)).to.be.within(0, 60_000);
    const keys = await allKeys(d);
    expect(keys.filter((k) => !k.startsWith('koa:sess:'))).to.deep.equal([
      'koa:owner:{ann}',
      'koa:owner:{ann}:meta',
      'koa:owner:{bob}',
      'koa:owner:{bob}:meta',
    ]);
    expect(keys).to.have.length(10 + 4);
    if (d.slotOf) expect(await d.slotOf('koa:owner:{ann}')).to.equal(await d.slotOf('koa:owner:{ann}:meta'));
  });

  it('destroyAll with except ends the others, whose cookies then get fresh empty sessions; without except it ends all', async () => {
    const { app, mw } = ownersApp({ store });
    const [mine, ...others] = await Promise.all(Array.from({ length: 5 }, () => login(app, 'ann')));
    await Promise.all([login(app, 'bob'), login(app, 'bob')]);
    const ended = await request(app.callback()).get('/everywhere').set('Cookie', mine!.cookie);
    expect(ended.body).to.deep.equal({ ended: 4 });
    for (const other of others) {
      const res = await request(app.callback()).get('/').set('Cookie', other.cookie);
      expect(res.body.userId).to.equal(null);
      expect(res.body.sid).to.not.equal(other.sid);
      expect(await on(d, `koa:sess:${other.sid}`, 'EXISTS', `koa:sess:${other.sid}`)).to.equal(0);
    }
    expect((await request(app.callback()).get('/').set('Cookie', mine!.cookie)).body.userId).to.equal('ann');
    expect(await mw.listSessions('ann')).to.have.length(1);
    expect(await zcard('ann')).to.equal(1);
    expect(await mw.listSessions('bob')).to.have.length(2);
    expect(await mw.destroySessions('ann')).to.equal(1);
    expect(await mw.listSessions('ann')).to.deep.equal([]);
    expect((await allKeys(d)).filter((k) => k.includes('ann'))).to.deep.equal([]);
    expect(await mw.destroySessions('ann')).to.equal(0);
  });

  it('expired sessions drop out of the list at once, and out of the index once past their score (plus the grace)', async () => {
    const { app: longApp, mw } = ownersApp({ store });
    const waitGone = async (devices: Array<{ sid: string }>) => {
      for (const { sid } of devices) {
        const key = `koa:sess:${sid}`;
        await waitFor('the session to expire', async () => ((await on(d, key, 'EXISTS', key)) === 0 ? true : undefined));
      }
    };
    // the list checks each session: gone as soon as Redis expired it, whatever the index holds
    const first = await Promise.all([login(longApp, 'ann'), login(longApp, 'ann')]);
    expect(await mw.listSessions('ann')).to.have.length(2);
    for (const { sid } of first) expect(await on(d, `koa:sess:${sid}`, 'PEXPIRE', `koa:sess:${sid}`, 1)).to.equal(1);
    await waitGone(first);
    expect(await mw.listSessions('ann')).to.deep.equal([]);
    expect(await zcard('ann')).to.equal(0);
    // a write for the owner prunes the entries past their score + grace: two sessions whose own
    // lifetime (500 ms) is their index score; nothing is checked before they expire
    const { app: shortApp } = ownersApp({ store, cookie: { maxAge: 500 } });
    const second = await Promise.all([login(shortApp, 'ann'), login(shortApp, 'ann')]);
    await waitGone(second);
    const node = await d.nodeFor('koa:owner:{ann}');
    const scores = (await node.command('ZRANGE', 'koa:owner:{ann}', 0, -1, 'WITHSCORES')) as string[];
    expect(scores).to.have.length(4);
    const latest = Math.max(...scores.filter((_, i) => i % 2 === 1).map(Number));
    await waitFor('the server clock to pass the last score plus the grace', async () => {
      const [seconds, micros] = (await node.command('TIME')) as string[];
      return Number(seconds) * 1000 + Number(micros) / 1000 > latest + OWNER_PRUNE_GRACE_MS ? true : undefined;
    });
    await login(longApp, 'ann');
    expect(await node.command('ZCARD', 'koa:owner:{ann}')).to.equal(1);
    expect(await node.command('HLEN', 'koa:owner:{ann}:meta')).to.equal(1);
    expect(await mw.listSessions('ann')).to.have.length(1);
  });

  it('regenerate, owner change and logout keep the index in step', async () => {
    const { app, mw } = ownersApp({ store });
    const first = await login(app, 'ann');
    const again = await request(app.callback()).get('/login?user=ann').set('Cookie', first.cookie);
    expect(again.body.sid).to.not.equal(first.sid);
    expect(await mw.listSessions('ann')).to.have.length(1);
    expect(await zcard('ann')).to.equal(1);
    const cookie = cookieOf(again);
    await request(app.callback()).get('/become?user=bob').set('Cookie', cookie).expect(200);
    expect(await mw.listSessions('ann')).to.deep.equal([]);
    expect(await zcard('ann')).to.equal(0);
    expect(await mw.listSessions('bob')).to.have.length(1);
    await request(app.callback()).get('/change').set('Cookie', cookie).expect(200);
    const [row] = await mw.listSessions('bob');
    expect(row!.savedAt.getTime()).to.be.at.least(row!.createdAt.getTime());
    await request(app.callback()).get('/logout').set('Cookie', cookie).expect(200);
    expect(await mw.listSessions('bob')).to.deep.equal([]);
    expect(await allKeys(d)).to.deep.equal([]);
  });

  it('rolling: a touch moves the expiry the index holds', async () => {
    const { app, mw } = ownersApp({ store, rolling: true, cookie: { maxAge: 60_000 } });
    const device = await login(app, 'ann');
    const before = (await mw.listSessions('ann'))[0]!.ttl!;
    const { app: longer } = ownersApp({ store, rolling: true, ttl: 600_000 });
    await request(longer.callback()).get('/').set('Cookie', device.cookie).expect(200);
    const node = await d.nodeFor('koa:owner:{ann}');
    const [, score] = (await node.command('ZRANGE', 'koa:owner:{ann}', 0, -1, 'WITHSCORES')) as string[];
    expect(Number(score) - Date.now()).to.be.above(500_000);
    expect((await mw.listSessions('ann'))[0]!.ttl).to.be.above(before);
  });

  /** Ann logs in; a request to `path` (/slow) loads her session and is held there until `proceed()`. */
  async function heldRequest(path: string) {
    let reached!: () => void;
    let proceed!: () => void;
    const loaded = new Promise<void>((r) => (reached = r));
    const { app, mw } = ownersApp({ store }, { reached, proceed: new Promise<void>((r) => (proceed = r)) });
    const device = await login(app, 'ann');
    const slow = request(app.callback()).get(path).set('Cookie', device.cookie).then((r) => r);
    await loaded;
    return { app, mw, device, slow, proceed };
  }

  for (const [what, path, owner] of [
    ['a change', '/slow', 'ann'],
    ['an owner change', '/slow?user=bob', 'bob'],
  ] as const) {
    it(`a request in flight during destroyAll (${what}) does not bring its session back, nor re-add it to an index`, async () => {
      const { app, mw, device, slow: late, proceed } = await heldRequest(path);
      expect(await mw.destroySessions('ann')).to.equal(1);
      proceed();
      const res = await late;
      expect(res.status).to.equal(200);
      expect(await allKeys(d)).to.deep.equal([]);
      expect(await mw.listSessions(owner)).to.deep.equal([]);
      const after = await request(app.callback()).get('/').set('Cookie', device.cookie);
      expect(after.body.userId).to.equal(null);
    });
  }

  for (const [what, path, owner, other] of [
    ['a change', '/slow', 'ann', undefined],
    ['an owner change', '/slow?user=bob', 'bob', 'ann'],
  ] as const) {
    it(`${what} that meets another request's write keeps both, and the index lists the session once`, async () => {
      const { app, mw, device, slow, proceed } = await heldRequest(path);
      // another request of the same session changes it while /slow holds what it loaded
      await request(app.callback()).get('/change').set('Cookie', device.cookie).expect(200);
      proceed();
      expect((await slow).status).to.equal(200);
      const stored = JSON.parse((await on(d, `koa:sess:${device.sid}`, 'GET', `koa:sess:${device.sid}`)) as string);
      expect(stored).to.include({ n: 1, userId: owner });
      if (path === '/slow') expect(stored.touched).to.be.a('number');
      expect((await mw.listSessions(owner)).map((s) => s.current)).to.have.length(1);
      if (other) expect(await mw.listSessions(other)).to.deep.equal([]);
      expect(await zcard(owner)).to.equal(1);
    });
  }

  it('owners with braces and percent signs get keys of their own, in one slot', async () => {
    const { app, mw } = ownersApp({ store });
    for (const user of ['a}b', '{a}', '%7D', 'a']) await login(app, encodeURIComponent(user));
    for (const user of ['a}b', '{a}', '%7D', 'a']) expect(await mw.listSessions(user), user).to.have.length(1);
    const ownerKeys = (await allKeys(d)).filter((k) => k.startsWith('koa:owner:'));
    expect(ownerKeys).to.include.members(['koa:owner:{a%7Db}', 'koa:owner:{%7Ba%7D}', 'koa:owner:{%257D}', 'koa:owner:{a}']);
    if (d.slotOf) {
      for (const key of ownerKeys.filter((k) => !k.endsWith(':meta'))) expect(await d.slotOf(key)).to.equal(await d.slotOf(key + ':meta'));
    }
    expect(await mw.destroySessions('a}b')).to.equal(1);
    expect(await mw.listSessions('a')).to.have.length(1);
  });

  it('round trips per request are the same with and without an owner', async () => {
    // scripts already cached on every node: a first EVALSHA would otherwise cost a NOSCRIPT round trip
    for (const node of d.nodes()) for (const script of [WRITE, OWNER_READ, OWNER_REMOVE]) await node.command('SCRIPT', 'LOAD', script.body);
    const counter = roundTripCounter(store.client);
    const { app } = ownersApp({ store });
    const { app: rolling } = ownersApp({ store, rolling: true });
    const rows: string[] = [];
    /** EVALSHA calls on all nodes (INFO commandstats) while `run` runs. */
    const scripted = async (run: () => Promise<unknown>) => {
      for (const node of d.nodes()) await node.resetStats();
      const sent = await counter.measure(run);
      let evalsha = 0;
      for (const node of d.nodes()) evalsha += (await node.commandStats()).evalsha ?? 0;
      return { ...sent, evalsha };
    };
    /** `writes`: session writes the request makes (each one script call, or a plain command). */
    const measure = async (label: string, run: (cookie: string) => Promise<unknown>, anonymous: string, owned: string, writes: number) => {
      const without = await scripted(() => run(anonymous));
      const withOwner = await scripted(() => run(owned));
      rows.push(
        `${label}: without an owner ${without.roundTrips} round trip(s), ${without.commands} command(s) (${without.evalsha} EVALSHA); ` +
          `with ${withOwner.roundTrips}, ${withOwner.commands} (${withOwner.evalsha} EVALSHA)`,
      );
      expect(withOwner.roundTrips, label).to.equal(without.roundTrips);
      if (d.slotOf === undefined) {
        // standalone: the owner bookkeeping rides inside the write's own script
        expect(withOwner.commands, label).to.equal(without.commands);
        expect(withOwner.evalsha, label).to.equal(writes);
      } else {
        // Cluster: one more script per write, for the owner's node, sent at the same time
        expect(withOwner.commands, label).to.equal(without.commands + writes);
        expect(withOwner.evalsha, label).to.equal(without.evalsha + writes);
      }
      return { without, withOwner };
    };
    const fresh = async (user?: string) => cookieOf(await request(app.callback()).get(user ? `/new?user=${user}` : '/new'));
    await measure('new session', (user) => request(app.callback()).get(user === '' ? '/new' : `/new?user=${user}`), '', 'ann', 1);
    const anon = await fresh();
    const ann = await fresh('ann');
    const read = await measure('read', (c) => request(app.callback()).get('/').set('Cookie', c), anon, ann, 0);
    expect(read.withOwner).to.deep.equal({ commands: 1, roundTrips: 1, evalsha: 0 });
    const change = await measure('change (merge)', (c) => request(app.callback()).get('/change').set('Cookie', c), anon, ann, 1);
    expect(change.withOwner.roundTrips).to.equal(2);
    await measure('rolling touch', (c) => request(rolling.callback()).get('/').set('Cookie', c), anon, ann, 1);
    await measure('logout', (c) => request(app.callback()).get('/logout').set('Cookie', c), anon, ann, 1);
    for (const row of rows) console.log(`      ${row}`);
  });

  it('10,000 sessions of one owner are listed and destroyed', async function () {
    this.timeout(60_000);
    const mw: SessionMiddleware = session({ store, owner: (s) => s.userId as string });
    const total = 10_000;
    for (let i = 0; i < total; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, total - i) }, (_, j) =>
          store.set(`koa:sess:many${i + j}`, { cookie: {}, userId: 'many' }, 600_000, { owner: 'many' }),
        ),
      );
    }
    let started = process.hrtime.bigint();
    const listed = await mw.listSessions('many');
    const listMs = Number(process.hrtime.bigint() - started) / 1e6;
    started = process.hrtime.bigint();
    const ended = await mw.destroySessions('many');
    const destroyMs = Number(process.hrtime.bigint() - started) / 1e6;
    expect(listed).to.have.length(total);
    expect(ended).to.equal(total);
    expect(await allKeys(d)).to.deep.equal([]);
    console.log(`      ${d.label}, 10,000 sessions of one owner: list ${listMs.toFixed(0)} ms, destroy ${destroyMs.toFixed(0)} ms`);
  });
}

describe('RedisStore owner index: every session of one user (real redis-server)', function () {
  describe('standalone', () => {
    let redis: RedisServer;
    ownerSuite(
      async () => {
        redis = await RedisServer.start({ label: 'owners' });
        return {
          label: 'standalone',
          nodes: () => [redis],
          nodeFor: async () => redis,
          store: async (options) => {
            const store = new RedisStore({ url: redis.url, ...options });
            await once(store, 'connect');
            return store;
          },
        };
      },
      () => redis.remove(),
    );

    it('ownerPrefix names the index keys; a prefix with a brace is refused at setup', async () => {
      const store = new RedisStore({ url: redis.url, ownerPrefix: 'app1:owners:' });
      try {
        await once(store, 'connect');
        await store.set('koa:sess:p', { cookie: {}, userId: 'ann' }, 60_000, { owner: 'ann' });
        expect(((await redis.command('KEYS', 'app1:*')) as string[]).sort()).to.deep.equal(['app1:owners:{ann}', 'app1:owners:{ann}:meta']);
        expect((await store.listOwned('ann')).map((row) => row.key)).to.deep.equal(['koa:sess:p']);
      } finally {
        await store.quit();
      }
      for (const bad of ['a{b', 'x}', '', 42]) {
        expect(() => new RedisStore({ url: redis.url, ownerPrefix: bad as string, redisOptions: { lazyConnect: true } })).to.throw(TypeError, /ownerPrefix/);
      }
    });
  });

  describe('Cluster (3 masters)', () => {
    let cluster: RedisCluster;
    ownerSuite(
      async () => {
        cluster = await RedisCluster.start({ masters: 3 });
        const asker = () => cluster.nodes[0]!;
        return {
          label: 'Cluster',
          nodes: () => cluster.nodes,
          nodeFor: (key) => cluster.nodeForKey(key),
          slotOf: async (key) => Number(await asker().command('CLUSTER', 'KEYSLOT', key)),
          store: async (options) => {
            const store = new RedisStore({ cluster: cluster.startupNodes, ...options });
            await once(store, 'connect');
            return store;
          },
        };
      },
      () => cluster.stop(),
    );
  });

  after(stopAllRedis);
});
