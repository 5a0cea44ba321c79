import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import { app, agent, cookieValue, setCookies } from './support/app.js';
import { stopAllRedis } from './support/redis.js';
import { standalone, cluster } from './support/deployments.js';
import { FakeClock } from './support/clock.js';
import { RedisStore } from '../lib/store/redis.js';
import type { SessionMiddleware, SessionOptions } from '../lib/index.js';

/** The commands a session request can send. */
const SESSION_COMMANDS = ['get', 'set', 'del', 'pexpire', 'evalsha', 'eval'];

function handler(ctx: Context): void {
  if (ctx.path === '/login') ctx.session!.user = 'ann';
  if (ctx.path === '/count') ctx.session!.count = ((ctx.session!.count as number | undefined) ?? 0) + 1;
  ctx.body = { user: ctx.session!.user ?? null, count: ctx.session!.count ?? 0 };
}

for (const make of [() => standalone('lifetime'), cluster]) {
  const d = make();
  describe(`session lifetimes on RedisStore, ${d.label} (real redis-server)`, function () {
    let store: RedisStore;
    before(async () => {
      await d.start();
    });
    beforeEach(async () => {
      store = d.store();
      await once(store, 'connect');
    });
    afterEach(() => store.quit());
    after(stopAllRedis);

    const use = (options: SessionOptions) => agent(app({ store, ...options }, handler));

    /** Session commands all nodes ran while `run` ran. */
    async function commandsDuring(run: () => Promise<unknown>): Promise<Record<string, number>> {
      await Promise.all(d.nodes().map((n) => n.resetStats()));
      await run();
      const sent: Record<string, number> = {};
      for (const node of d.nodes()) {
        const stats = await node.commandStats();
        for (const name of SESSION_COMMANDS) if (stats[name]) sent[name] = (sent[name] ?? 0) + stats[name]!;
      }
      return sent;
    }

    it('absoluteTimeout ends a session under continuous activity with rolling, and its key is gone', async () => {
      const absoluteTimeout = 400;
      const a = use({ rolling: true, absoluteTimeout, cookie: { maxAge: 60_000 } });
      const started = Date.now();
      const login = await a.get('/login').expect(200);
      const key = 'koa:sess:' + cookieValue(login, 'koa.sid');
      const node = await d.nodeFor(key);
      // the store ttl is capped at the absolute end, far below the cookie's minute
      expect(Number(await node.command('PTTL', key))).to.be.within(1, absoluteTimeout);
      let served = 0;
      let ended: { at: number; body: unknown } | undefined;
      // requests back to back until the session ends (the bound only keeps a broken build from looping for ever)
      for (let i = 0; i < 100_000 && ended === undefined; i++) {
        const res = await a.get('/count').expect(200);
        if ((res.body as { user: string | null }).user === 'ann') {
          served++;
          expect(res.body).to.deep.equal({ user: 'ann', count: served });
        } else {
          ended = { at: Date.now(), body: res.body };
        }
      }
      expect(ended, 'the session ended').to.not.equal(undefined);
      expect(served, 'requests served by the session before it ended').to.be.above(0);
      expect(ended!.at - started).to.be.at.least(absoluteTimeout);
      expect(ended!.body).to.deep.equal({ user: null, count: 1 });
      expect(await node.command('EXISTS', key)).to.equal(0);
    });

    describe('rolling: { renewAfter } at its edges (controlled clock)', () => {
      let clock: FakeClock;
      beforeEach(() => (clock = new FakeClock()));
      afterEach(() => clock.restore());

      it('sends only the GET before renewAfter, one write at it, and behaves as rolling for the ttl', async () => {
        const a = use({ rolling: { renewAfter: 60_000 }, cookie: { maxAge: 600_000 } });
        const login = await a.get('/login').expect(200);
        const key = 'koa:sess:' + cookieValue(login, 'koa.sid');
        const node = await d.nodeFor(key);

        clock.advance(59_999);
        let res: { headers: Record<string, unknown> } | undefined;
        expect(await commandsDuring(async () => (res = await a.get('/').expect(200)))).to.deep.equal({ get: 1 });
        expect(setCookies(res!)).to.deep.equal([]);

        await node.command('PEXPIRE', key, 1_000);
        clock.advance(1);
        // the renewal is the merge script (its GET and SET run inside it): one round trip after the read
        expect(await commandsDuring(async () => (res = await a.get('/').expect(200)))).to.deep.equal({ get: 2, evalsha: 1, set: 1 });
        expect(cookieValue(res!, 'koa.sid')).to.equal(key.slice('koa:sess:'.length));
        expect(Number(await node.command('PTTL', key))).to.be.above(1_000);
        const stored = JSON.parse(String(await node.command('GET', key))) as Record<string, unknown>;
        expect(stored).to.deep.include({ user: 'ann', _kgs: { renewedAt: clock.now } });

        clock.advance(59_999);
        expect(await commandsDuring(() => a.get('/').expect(200))).to.deep.equal({ get: 1 });
      });

      it('with the owner index: a renewal updates the owner\'s list, and after log out everywhere a due renewal brings nothing back', async () => {
        const koa = app({ store, owner: (s) => s.user as string | undefined, rolling: { renewAfter: 60_000 } }, handler);
        const sessions = koa.middleware[0] as unknown as SessionMiddleware;
        const a = agent(koa);
        const sid = cookieValue(await a.get('/login').expect(200), 'koa.sid')!;
        const loggedIn = clock.now;
        const savedAt = async () => (await sessions.listSessions('ann', { current: sid })).map((s) => [s.current, s.savedAt.getTime()]);
        expect(await savedAt()).to.deep.equal([[true, loggedIn]]);
        clock.advance(59_999);
        await a.get('/').expect(200);
        expect(await savedAt(), 'no renewal yet').to.deep.equal([[true, loggedIn]]);
        clock.advance(1);
        await a.get('/').expect(200);
        expect(await savedAt(), 'renewed').to.deep.equal([[true, clock.now]]);
        expect(await sessions.destroySessions('ann')).to.equal(1);
        clock.advance(60_000);
        expect((await a.get('/').expect(200)).body).to.deep.equal({ user: null, count: 0 });
        expect(await sessions.listSessions('ann')).to.deep.equal([]);
        const key = 'koa:sess:' + sid;
        expect(await (await d.nodeFor(key)).command('EXISTS', key)).to.equal(0);
      });
    });
  });
}
