import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { MemoryStore, SessionDescribeError, type SessionOptions, type SessionStore } from '../lib/index.js';
import { RedisStore } from '../lib/store/redis.js';
import { DEVICE_INFO_MAX } from '../lib/device.js';
import { Gate } from './support/gate.js';
import { RedisCluster, RedisServer, stopAllRedis } from './support/redis.js';
import { cookieOf, login, ownersApp } from './support/owners-app.js';
import { until } from './support/wait.js';

type Device = { handle: string; current: boolean; info: Record<string, unknown> | null; lastSeenAt: string; savedAt: string };

const describeDevice: NonNullable<SessionOptions['describe']> = (ctx) => ({ userAgent: ctx.get('user-agent') || null, ip: ctx.ip });

/** The next millisecond, so "seen least recently" is decided by the clock and not by a tie. */
async function nextMs(): Promise<void> {
  const now = Date.now();
  await until(() => Date.now() > now, 'the clock to move');
}

async function devicesOf(app: ReturnType<typeof ownersApp>['app'], cookie: string): Promise<Device[]> {
  const res = await request(app.callback()).get('/devices').set('Cookie', cookie).expect(200);
  return res.body as Device[];
}

/** The same behaviour on every store that indexes owners. */
function devicesSuite(makeStore: () => Promise<SessionStore>, cleanup: () => Promise<void>) {
  let store: SessionStore;
  beforeEach(async () => {
    store = await makeStore();
  });
  afterEach(async () => {
    await (store as { quit?: () => Promise<void> }).quit?.();
    await cleanup();
  });

  it('listSessions shows what describe() returned and when each device was last seen; never a session id', async () => {
    const { app, mw } = ownersApp({ store, describe: describeDevice });
    const phone = await request(app.callback()).get('/login?user=ann').set('User-Agent', 'Phone/1.0').expect(200);
    const laptop = await request(app.callback()).get('/login?user=ann').set('User-Agent', 'Laptop/2.0').expect(200);
    const before = Date.now();
    const devices = await devicesOf(app, cookieOf(laptop));
    expect(devices.map((d) => d.info?.userAgent).sort()).to.deep.equal(['Laptop/2.0', 'Phone/1.0']);
    for (const d of devices) {
      expect(d.info).to.have.keys(['userAgent', 'ip']);
      expect(Date.parse(d.lastSeenAt)).to.be.within(Date.parse(d.savedAt), before);
    }
    const text = JSON.stringify(await mw.listSessions('ann')) + JSON.stringify(devices);
    for (const sid of [phone.body.sid, laptop.body.sid]) expect(text).to.not.contain(sid);

    // a read-only request writes nothing, so lastSeenAt stays; a change records the new device info
    const phoneBefore = (await mw.listSessions('ann')).find((d) => d.info?.userAgent === 'Phone/1.0')!;
    await nextMs();
    await request(app.callback()).get('/').set('Cookie', cookieOf(phone)).set('User-Agent', 'Phone/1.1').expect(200);
    const unchanged = (await mw.listSessions('ann')).find((d) => d.handle === phoneBefore.handle)!;
    expect(unchanged.lastSeenAt.getTime()).to.equal(phoneBefore.lastSeenAt.getTime());
    expect(unchanged.info).to.deep.equal(phoneBefore.info);
    await request(app.callback()).get('/change').set('Cookie', cookieOf(phone)).set('User-Agent', 'Phone/1.1').expect(200);
    const changed = (await mw.listSessions('ann')).find((d) => d.handle === phoneBefore.handle)!;
    expect(changed.lastSeenAt.getTime()).to.be.above(phoneBefore.lastSeenAt.getTime());
    expect(changed.info?.userAgent).to.equal('Phone/1.1');
    expect(changed.createdAt.getTime()).to.equal(phoneBefore.createdAt.getTime());
  });

  it('with rolling, a read-only request moves lastSeenAt and records the device info, not savedAt', async () => {
    const { app, mw } = ownersApp({ store, describe: describeDevice, rolling: true });
    const device = await request(app.callback()).get('/login?user=ann').set('User-Agent', 'Old/1').expect(200);
    const [before] = await mw.listSessions('ann');
    await nextMs();
    await request(app.callback()).get('/').set('Cookie', cookieOf(device)).set('User-Agent', 'New/2').expect(200);
    const [after] = await mw.listSessions('ann');
    expect(after!.lastSeenAt.getTime()).to.be.above(before!.lastSeenAt.getTime());
    expect(after!.savedAt.getTime()).to.equal(before!.savedAt.getTime());
    expect(after!.info?.userAgent).to.equal('New/2');
  });

  it('describe() at its size bound is recorded; past it the app gets a SessionDescribeError and the session is saved without info', async () => {
    // {"ua":"xxx…"} is 9 characters around the value
    const ua = (length: number) => 'x'.repeat(length - 9);
    const { app, mw } = ownersApp({ store, describe: (ctx) => ({ ua: ctx.get('user-agent') }) });
    const errors: unknown[] = [];
    app.on('error', (err) => errors.push(err));
    const atBound = await request(app.callback()).get('/login?user=ann').set('User-Agent', ua(DEVICE_INFO_MAX)).expect(200);
    expect(errors).to.deep.equal([]);
    const past = await request(app.callback()).get('/login?user=ann').set('User-Agent', ua(DEVICE_INFO_MAX + 1)).expect(200);
    expect(errors).to.have.length(1);
    const err = errors[0] as SessionDescribeError;
    expect(err).to.be.instanceOf(SessionDescribeError);
    expect(err.code).to.equal('ERR_SESSION_DESCRIBE');
    expect(err.message).to.match(/option "describe" returned 1025 characters of JSON, more than the 1024/);
    const listed = await mw.listSessions('ann', { current: past.body.sid as string });
    expect(listed).to.have.length(2);
    expect(listed.find((d) => d.current)!.info).to.equal(null);
    expect(listed.find((d) => !d.current)!.info).to.deep.equal({ ua: ua(DEVICE_INFO_MAX) });
    // the session past the bound is signed in all the same
    expect((await request(app.callback()).get('/').set('Cookie', cookieOf(past))).body.userId).to.equal('ann');
    expect((await request(app.callback()).get('/').set('Cookie', cookieOf(atBound))).body.userId).to.equal('ann');
  });

  it('describe() returning nested values or throwing is reported the same way', async () => {
    let answer: () => unknown = () => ({ nested: { a: 1 } });
    const { app, mw } = ownersApp({ store, describe: () => answer() as Record<string, string> });
    const errors: Error[] = [];
    app.on('error', (err: Error) => errors.push(err));
    await request(app.callback()).get('/login?user=ann').expect(200);
    answer = () => {
      throw new Error('no agent');
    };
    await request(app.callback()).get('/login?user=ann').expect(200);
    expect(errors.map((e) => e.message)).to.deep.equal([
      'session() option "describe" must return an object of strings, finite numbers, booleans and nulls; "nested" is object; the session was saved without device info',
      'session() option "describe" threw: no agent; the session was saved without device info',
    ]);
    expect(await mw.listSessions('ann')).to.have.length(2);
  });

  it('destroySession ends the one device its handle names; a handle of another owner ends nothing', async () => {
    const { app, mw } = ownersApp({ store, describe: describeDevice });
    const [mine, phone, tablet] = await Promise.all([login(app, 'ann'), login(app, 'ann'), login(app, 'ann')]);
    const bob = await login(app, 'bob');
    const phoneHandle = (await mw.listSessions('ann', { current: phone!.sid })).find((d) => d.current)!.handle;
    const bobHandle = (await mw.listSessions('bob'))[0]!.handle;
    const destroyed: Array<{ handle: string; owner?: string; cause: string }> = [];
    mw.on('destroyed', ({ handle, owner, cause }) => destroyed.push({ handle, owner, cause }));

    // bob's handle, asked for as ann's: nothing ends
    expect((await request(app.callback()).get(`/signout?handle=${bobHandle}`).set('Cookie', mine!.cookie)).body).to.deep.equal({ ended: false });
    expect(await mw.destroySession('ann', bobHandle)).to.equal(false);
    expect(await mw.listSessions('bob')).to.have.length(1);
    expect((await request(app.callback()).get('/').set('Cookie', bob.cookie)).body.userId).to.equal('bob');

    expect((await request(app.callback()).get(`/signout?handle=${phoneHandle}`).set('Cookie', mine!.cookie)).body).to.deep.equal({ ended: true });
    expect(await mw.destroySession('ann', phoneHandle)).to.equal(false);
    expect(destroyed).to.deep.equal([{ handle: phoneHandle, owner: 'ann', cause: 'destroySession' }]);
    const left = await mw.listSessions('ann');
    expect(left.map((d) => d.handle)).to.not.include(phoneHandle);
    expect(left).to.have.length(2);
    expect((await request(app.callback()).get('/').set('Cookie', phone!.cookie)).body.userId).to.equal(null);
    for (const other of [mine!, tablet!]) expect((await request(app.callback()).get('/').set('Cookie', other.cookie)).body.userId).to.equal('ann');
    const refused = await mw.destroySession('ann', 'not a handle').then(() => undefined, (err: unknown) => err);
    expect(refused).to.be.instanceOf(TypeError).with.property('message').that.matches(/handle as listSessions\(\) gives it/);
  });

  it('destroySession while that session has a request in flight: the request cannot bring it back', async () => {
    const gate = new Gate();
    const { app, mw } = ownersApp({ store, describe: describeDevice }, { reached: () => void gate.hold('loaded'), proceed: gate.hold('go') });
    const device = await login(app, 'ann');
    const other = await login(app, 'ann');
    const handle = (await mw.listSessions('ann', { current: device.sid })).find((d) => d.current)!.handle;
    const lost: string[] = [];
    mw.on('lost', ({ handle }) => lost.push(handle));
    // /slow changes the session once let go: its save must find the session gone
    const late = request(app.callback()).get('/slow').set('Cookie', device.cookie).then((r) => r);
    await gate.reached('loaded');
    expect(await mw.destroySession('ann', handle)).to.equal(true);
    gate.open('go');
    const res = await late;
    expect(res.status).to.equal(200);
    expect(lost).to.deep.equal([handle]);
    const listed = await mw.listSessions('ann');
    expect(listed.map((d) => d.handle)).to.not.include(handle);
    expect(listed).to.have.length(1);
    expect((await request(app.callback()).get('/').set('Cookie', device.cookie)).body.userId).to.equal(null);
    expect((await request(app.callback()).get('/').set('Cookie', other.cookie)).body.userId).to.equal('ann');
  });

  it('maxSessionsPerOwner: a new sign-in past the limit ends the session seen least recently', async () => {
    const { app, mw } = ownersApp({ store, describe: describeDevice, maxSessionsPerOwner: 3 });
    const first = await login(app, 'ann');
    await nextMs();
    const second = await login(app, 'ann');
    await nextMs();
    const third = await login(app, 'ann');
    await nextMs();
    // the first one is active again: the second is now the one seen least recently
    await request(app.callback()).get('/change').set('Cookie', first.cookie).expect(200);
    await nextMs();
    const bob = await login(app, 'bob');
    const secondHandle = (await mw.listSessions('ann', { current: second.sid })).find((d) => d.current)!.handle;
    const destroyed: Array<{ handle: string; owner?: string; cause: string }> = [];
    mw.on('destroyed', ({ handle, owner, cause }) => destroyed.push({ handle, owner, cause }));
    const fourth = await login(app, 'ann');
    expect(destroyed).to.deep.equal([{ handle: secondHandle, owner: 'ann', cause: 'limit' }]);
    const listed = await mw.listSessions('ann', { current: fourth.sid });
    expect(listed).to.have.length(3);
    const signedIn = async (cookie: string) => (await request(app.callback()).get('/').set('Cookie', cookie)).body.userId as string | null;
    expect(await signedIn(second.cookie)).to.equal(null);
    for (const still of [first, third, fourth]) expect(await signedIn(still.cookie)).to.equal('ann');
    expect(await signedIn(bob.cookie)).to.equal('bob');
    // saves of sessions already listed end nothing
    await request(app.callback()).get('/change').set('Cookie', third.cookie).expect(200);
    expect(await mw.listSessions('ann')).to.have.length(3);
    expect(await signedIn(first.cookie)).to.equal('ann');
  });
}

interface LoginRun {
  ms: number;
  statuses: number[];
  sids: string[];
}

/**
 * Two app processes on one Redis sign one owner in `logins` times each, all at
 * once, with maxSessionsPerOwner `limit`, while this process reads the owner's
 * index size as often as it can. Resolves what the children saw, the largest
 * index size read, and the wall time from "go" until both were done.
 */
async function parallelLogins(env: NodeJS.ProcessEnv, logins: number, limit: number, indexSize: () => Promise<number>) {
  const file = fileURLToPath(new URL('./fixtures/parallel-logins.ts', import.meta.url));
  const children = [0, 1].map(() =>
    spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, ...env, LOGINS: String(logins), LIMIT: String(limit) },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const outputs = children.map((child) => {
    let out = '';
    const exit = once(child, 'exit');
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        if (out.startsWith('ready\n')) resolve();
      });
      void exit.then(([code]) => reject(new Error(`an app process exited with ${String(code)} before it was ready`)));
    });
    return { text: () => out, exit, ready };
  });
  await Promise.all(outputs.map((o) => o.ready));
  let done = false;
  let largest = 0;
  const watching = (async () => {
    while (!done) largest = Math.max(largest, await indexSize());
  })();
  const started = process.hrtime.bigint();
  for (const child of children) child.stdin.write('go\n');
  const codes = await Promise.all(outputs.map((o) => o.exit));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  done = true;
  await watching;
  expect(codes.map(([code]) => code)).to.deep.equal([0, 0]);
  const runs = outputs.map((o) => JSON.parse(o.text().slice('ready\n'.length)) as LoginRun);
  return { runs, largest, wallMs };
}

describe('your devices: device info, ending one session, a limit per owner', () => {
  describe('MemoryStore', () => {
    devicesSuite(async () => new MemoryStore(), async () => {});
  });

  describe('RedisStore standalone', () => {
    let redis: RedisServer;
    before(async function () {
      this.timeout(30_000);
      redis = await RedisServer.start();
    });
    after(() => redis.remove());
    devicesSuite(
      async () => {
        const store = new RedisStore({ url: redis.url });
        await once(store, 'connect');
        return store;
      },
      async () => void (await redis.command('FLUSHALL')),
    );
  });

  describe('RedisStore Cluster (3 masters)', () => {
    let cluster: RedisCluster;
    before(async function () {
      this.timeout(60_000);
      cluster = await RedisCluster.start({ masters: 3 });
    });
    after(() => cluster.stop());
    devicesSuite(
      async () => {
        const store = new RedisStore({ cluster: cluster.startupNodes });
        await once(store, 'connect');
        return store;
      },
      async () => {
        for (const node of cluster.nodes) await node.command('FLUSHALL');
      },
    );
  });

  describe('maxSessionsPerOwner under 50 parallel sign-ins from two app processes', () => {
    const LIMIT = 3;
    const check = async (runs: LoginRun[], largest: number, list: () => Promise<Array<{ handle: string }>>, live: (sid: string) => Promise<boolean>) => {
      const sids = runs.flatMap((r) => r.sids);
      expect(runs.flatMap((r) => r.statuses)).to.deep.equal(Array(50).fill(200));
      expect(new Set(sids).size).to.equal(50);
      expect(largest).to.be.at.most(LIMIT);
      const listed = await list();
      expect(listed).to.have.length(LIMIT);
      const text = JSON.stringify(listed);
      for (const sid of sids) expect(text).to.not.contain(sid);
      const alive: string[] = [];
      for (const sid of sids) if (await live(sid)) alive.push(sid);
      expect(alive).to.have.length(LIMIT);
    };

    it('standalone: never more than the limit listed, and exactly the limit left', async function () {
      this.timeout(120_000);
      const redis = await RedisServer.start();
      const store = new RedisStore({ url: redis.url });
      try {
        await once(store, 'connect');
        const { runs, largest, wallMs } = await parallelLogins({ REDIS_URL: redis.url }, 25, LIMIT, async () => Number(await redis.command('ZCARD', 'koa:owner:{ann}')));
        const mw = ownersApp({ store }).mw;
        await check(runs, largest, () => mw.listSessions('ann'), async (sid) => (await redis.command('EXISTS', `koa:sess:${sid}`)) === 1);
        console.log(`      standalone, 2 × 25 parallel sign-ins, limit ${LIMIT}: all answered in ${wallMs.toFixed(0)} ms (per process ${runs.map((r) => r.ms.toFixed(0)).join(', ')} ms)`);
      } finally {
        await store.quit();
        await redis.remove();
      }
    });

    it('Cluster: never more than the limit listed, and exactly the limit left once the sign-ins answered', async function () {
      this.timeout(120_000);
      const cluster = await RedisCluster.start({ masters: 3 });
      const store = new RedisStore({ cluster: cluster.startupNodes });
      try {
        await once(store, 'connect');
        const indexNode = await cluster.nodeForKey('koa:owner:{ann}');
        const { runs, largest, wallMs } = await parallelLogins({ REDIS_CLUSTER: JSON.stringify(cluster.startupNodes) }, 25, LIMIT, async () =>
          Number(await indexNode.command('ZCARD', 'koa:owner:{ann}')),
        );
        const mw = ownersApp({ store }).mw;
        await check(runs, largest, () => mw.listSessions('ann'), async (sid) => {
          const key = `koa:sess:${sid}`;
          return (await (await cluster.nodeForKey(key)).command('EXISTS', key)) === 1;
        });
        console.log(`      Cluster, 2 × 25 parallel sign-ins, limit ${LIMIT}: all answered in ${wallMs.toFixed(0)} ms (per process ${runs.map((r) => r.ms.toFixed(0)).join(', ')} ms)`);
      } finally {
        await store.quit();
        await cluster.stop();
      }
    });
  });

  it('standalone: describe and the limit add no command to a sign-in, a change or a read', async function () {
    this.timeout(30_000);
    const redis = await RedisServer.start();
    const stores: RedisStore[] = [];
    try {
      const counts: Record<string, number[]> = {};
      for (const [label, extra] of [
        ['owner', {}],
        ['owner + describe + limit', { describe: describeDevice, maxSessionsPerOwner: 2 }],
      ] as const) {
        const store = new RedisStore({ url: redis.url });
        stores.push(store);
        await once(store, 'connect');
        let sent = 0;
        const client = store.client as unknown as { sendCommand: (...args: unknown[]) => unknown };
        const original = client.sendCommand.bind(store.client);
        client.sendCommand = (...args: unknown[]) => {
          sent++;
          return original(...args);
        };
        const { app } = ownersApp({ store, ...extra });
        const measure = async (run: () => Promise<unknown>) => {
          sent = 0;
          await run();
          return sent;
        };
        await login(app, 'ann');
        await nextMs();
        const second = await login(app, 'ann');
        // the third sign-in ends the first session under the limit of 2
        counts[label] = [
          await measure(() => login(app, 'ann')),
          await measure(() => request(app.callback()).get('/change').set('Cookie', second.cookie).expect(200, { userId: 'ann', sid: second.sid })),
          await measure(() => request(app.callback()).get('/').set('Cookie', second.cookie)),
        ];
      }
      expect(counts['owner + describe + limit']).to.deep.equal(counts['owner']);
      console.log(`      commands per sign-in, change, read: ${JSON.stringify(counts)}`);
    } finally {
      await Promise.all(stores.map((s) => s.quit()));
      await redis.remove();
    }
  });

  it('describe and maxSessionsPerOwner need the owner option', () => {
    expect(() => ownersApp({ owner: undefined, describe: describeDevice })).to.throw(TypeError, /option "describe" works on the owner index: pass "owner" too/);
    expect(() => ownersApp({ owner: undefined, maxSessionsPerOwner: 2 })).to.throw(TypeError, /option "maxSessionsPerOwner" works on the owner index/);
  });

  after(stopAllRedis);
});
