import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import { app, agent } from './support/app.js';
import { RedisServer, stopAllRedis } from './support/redis.js';
import { RedisStore } from '../lib/store/redis.js';
import type { SessionOptions } from '../lib/index.js';

/** The commands a session request can send; INFO, CONFIG and the TIME of a reconnect are not among them. */
const SESSION_COMMANDS = ['get', 'set', 'del', 'pexpire', 'evalsha', 'eval'];

describe('Redis round trips per request (INFO commandstats of a real redis-server)', function () {
  let redis: RedisServer;
  let store: RedisStore;

  before(async () => {
    redis = await RedisServer.start({ label: 'roundtrips' });
  });
  after(stopAllRedis);
  afterEach(() => store.quit());

  /** Commands sent by `request()`, after `setup()` ran, by name; `set` inside the guard script is reported as `set (in script)`. */
  async function commandsOf(
    storeOptions: ConstructorParameters<typeof RedisStore>[0],
    options: SessionOptions,
    setup: (a: ReturnType<typeof agent>) => Promise<unknown>,
    request: (a: ReturnType<typeof agent>) => Promise<unknown>,
  ): Promise<Record<string, number>> {
    store = new RedisStore({ url: redis.url, ...storeOptions });
    await once(store, 'connect');
    const koa = app({ store, ...options }, async (ctx: Context) => {
      if (ctx.path === '/logout') ctx.session = null;
      if (ctx.path === '/change') {
        const session = options.defer ? await ctx.session : ctx.session;
        session!.n = Number(session!.n ?? 0) + 1;
      }
      if (ctx.path === '/read') {
        const session = options.defer ? await ctx.session : ctx.session;
        ctx.body = { n: session!.n ?? null };
        return;
      }
      ctx.body = 'ok';
    });
    const a = agent(koa);
    await setup(a);
    await redis.resetStats();
    await request(a);
    const stats = await redis.commandStats();
    const sent: Record<string, number> = {};
    for (const name of SESSION_COMMANDS) if (stats[name]) sent[name] = stats[name]!;
    // each guarded write runs one SET inside the script: not a round trip of its own
    const scripted = (sent.evalsha ?? 0) + (sent.eval ?? 0);
    if (scripted > 0) {
      expect(sent.set).to.equal(scripted);
      delete sent.set;
      sent['set (in script)'] = scripted;
    }
    return sent;
  }
  const roundTrips = (sent: Record<string, number>) =>
    Object.entries(sent).reduce((n, [name, calls]) => (name.includes('in script') ? n : n + calls), 0);

  const login = (a: ReturnType<typeof agent>) => a.get('/change').expect(200);
  const none = async () => {};

  it('a request that reads the session without changing it: 1 (GET)', async () => {
    const sent = await commandsOf({}, {}, login, (a) => a.get('/read').expect(200));
    expect(sent).to.deep.equal({ get: 1 });
    expect(roundTrips(sent)).to.equal(1);
  });

  it('a request that changes the session: 2 (GET, then the merge script as one EVALSHA; it runs a GET and a SET inside)', async () => {
    const sent = await commandsOf({}, {}, login, (a) => a.get('/change').expect(200));
    // commandstats counts the commands a script runs: the second GET is the merge reading the stored value
    expect(sent).to.deep.equal({ get: 2, evalsha: 1, 'set (in script)': 1 });
  });

  it('with merge: false, a change is GET + the guarded whole-session SET as one EVALSHA', async () => {
    const sent = await commandsOf({}, { merge: false }, login, (a) => a.get('/change').expect(200));
    expect(sent).to.deep.equal({ get: 1, evalsha: 1, 'set (in script)': 1 });
    expect(roundTrips(sent)).to.equal(2);
  });

  it('with guardWrites: false and merge: false, a change is GET + a plain SET', async () => {
    const sent = await commandsOf({ guardWrites: false }, { merge: false }, login, (a) => a.get('/change').expect(200));
    expect(sent).to.deep.equal({ get: 1, set: 1 });
  });

  it('a new visitor whose session stays empty: 0', async () => {
    const sent = await commandsOf({}, {}, none, (a) => a.get('/').expect(200));
    expect(sent).to.deep.equal({});
  });

  it('defer mode, a route that never reads the session: 0', async () => {
    const sent = await commandsOf({}, { defer: true }, login, (a) => a.get('/').expect(200));
    expect(sent).to.deep.equal({});
  });

  it('defer mode, a route that reads it: 1 (GET)', async () => {
    const sent = await commandsOf({}, { defer: true }, login, (a) => a.get('/read').expect(200));
    expect(sent).to.deep.equal({ get: 1 });
  });

  it('rolling with an unchanged session: 2 (GET + PEXPIRE, no SET)', async () => {
    const sent = await commandsOf({}, { rolling: true }, login, (a) => a.get('/read').expect(200));
    expect(sent).to.deep.equal({ get: 1, pexpire: 1 });
    expect(roundTrips(sent)).to.equal(2);
  });

  it('logout (session set to null): 2 (GET + DEL)', async () => {
    const sent = await commandsOf({}, {}, login, (a) => a.get('/logout').expect(200));
    expect(sent).to.deep.equal({ get: 1, del: 1 });
  });
});
