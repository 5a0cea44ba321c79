import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Context } from 'koa';
import request from 'supertest';
import { app, agent, cookieValue } from './support/app.js';
import { Gate } from './support/gate.js';
import { stopAllRedis } from './support/redis.js';
import { standalone, sentinel, cluster, type Deployment } from './support/deployments.js';
import { RedisStore } from '../lib/store/redis.js';
import type { Session, SessionMiddleware, SessionOptions } from '../lib/index.js';

const sha256 = (sid: string) => createHash('sha256').update(sid).digest('base64url');
const COOKIE = { path: '/', httpOnly: true, overwrite: true, signed: false, maxAge: 86_400_000 };

/** Every key on every node with its content as text: strings, sorted-set members and scores, hash fields and values. */
async function dump(d: Deployment): Promise<string[]> {
  const out: string[] = [];
  for (const node of d.nodes()) {
    let cursor = '0';
    do {
      const [next, keys] = (await node.command('SCAN', cursor, 'COUNT', 1000)) as [string, string[]];
      cursor = next;
      for (const key of keys) {
        const type = String(await node.command('TYPE', key));
        const content =
          type === 'string' ? await node.command('GET', key)
          : type === 'zset' ? await node.command('ZRANGE', key, 0, -1, 'WITHSCORES')
          : type === 'hash' ? await node.command('HGETALL', key)
          : `(${type})`;
        out.push(`${key} ${JSON.stringify(content)}`);
      }
    } while (cursor !== '0');
  }
  return out;
}

for (const make of [() => standalone('hash-ids'), sentinel, cluster]) {
  const d = make();
  describe(`hashIds on RedisStore, ${d.label} (real redis-server)`, function () {
    let store: RedisStore;
    before(() => d.start());
    beforeEach(async () => {
      store = d.store();
      await once(store, 'connect');
      for (const node of d.nodes()) await node.command('FLUSHALL');
    });
    afterEach(() => store.quit());
    after(stopAllRedis);

    const owner = (s: Session) => s.user as string | undefined;
    function handler(ctx: Context): void {
      if (ctx.path.startsWith('/login/')) ctx.session!.user = ctx.path.slice(7);
      if (ctx.path === '/count') ctx.session!.count = ((ctx.session!.count as number | undefined) ?? 0) + 1;
      ctx.body = { user: ctx.session!.user ?? null };
    }

    /** Logs in 6 users (owner index on), changes and rolls their sessions; returns every id a request carried. */
    async function traffic(options: SessionOptions): Promise<string[]> {
      const koa = app({ store, owner, rolling: true, ...options }, handler);
      const sids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const a = agent(koa);
        sids.push(cookieValue(await a.get(`/login/user${i % 3}`).expect(200), 'koa.sid')!);
        await a.get('/count').expect(200);
        await a.get('/').expect(200);
      }
      return sids;
    }

    it('a dump of every key and value holds no session id a request carried', async () => {
      const sids = await traffic({ hashIds: true });
      const contents = await dump(d);
      // six sessions and three owners' index keys (a sorted set and a hash each)
      expect(contents).to.have.length(12);
      for (const sid of sids) expect(contents.filter((line) => line.includes(sid)), sid).to.deep.equal([]);
    });

    it('(control) without hashIds the same dump does hold them', async () => {
      const sids = await traffic({});
      const contents = (await dump(d)).join('\n');
      for (const sid of sids) expect(contents).to.include(sid);
    });

    it('migration under 16 parallel requests of one raw-key session: one session served, one hashed key, raw key gone, no change lost', async () => {
      const sid = 'legacy-session-id-0123456789';
      const raw = 'koa:sess:' + sid;
      const hashed = 'koa:sess:' + sha256(sid);
      await (await d.nodeFor(raw)).command('SET', raw, JSON.stringify({ user: 'ann', cookie: COOKIE }), 'PX', 600_000);
      const gate = new Gate();
      const koa = app({ store, cookie: { signed: false }, hashIds: { migrate: true } }, async (ctx: Context) => {
        const user = ctx.session!.user;
        await gate.hold('loaded');
        ctx.session![`r${ctx.query.i}`] = true;
        ctx.body = { user };
      });
      const N = 16;
      const requests = Array.from({ length: N }, (_, i) =>
        request(koa.callback()).get(`/?i=${i}`).set('Cookie', `koa.sid=${sid}`).then((res) => res),
      );
      await gate.reached('loaded', N);
      gate.open('loaded');
      const responses = await Promise.all(requests);
      for (const res of responses) {
        expect(res.status).to.equal(200);
        expect(res.body).to.deep.equal({ user: 'ann' });
        // the same session: no new id was issued
        expect(cookieValue(res, 'koa.sid') ?? sid).to.equal(sid);
      }
      const keys = (await dump(d)).map((line) => line.slice(0, line.indexOf(' ')));
      expect(keys).to.deep.equal([hashed]);
      const stored = JSON.parse(String(await (await d.nodeFor(hashed)).command('GET', hashed))) as Record<string, unknown>;
      for (let i = 0; i < N; i++) expect(stored, `change of request ${i}`).to.have.property(`r${i}`, true);
      expect(stored).to.have.property('user', 'ann');
      expect(Number(await (await d.nodeFor(hashed)).command('PTTL', hashed))).to.be.above(0);
    });

    it('a migrated session is recorded in the owner index under its hashed key: listSessions and log out everywhere find it', async () => {
      // a session and its owner index entry as they were before hashIds
      const before = await request(app({ store, owner, cookie: { signed: false } }, handler).callback()).get('/login/carol');
      const sid = cookieValue(before, 'koa.sid')!;
      const koa = app({ store, owner, cookie: { signed: false }, hashIds: { migrate: true } }, handler);
      const sessions = koa.middleware[0] as unknown as SessionMiddleware;
      // a read-only request moves it
      expect((await request(koa.callback()).get('/').set('Cookie', `koa.sid=${sid}`)).body).to.deep.equal({ user: 'carol' });
      const list = await sessions.listSessions('carol', { current: sid });
      expect(list.map((s) => s.current)).to.deep.equal([true]);
      expect(await sessions.destroySessions('carol')).to.equal(1);
      expect((await request(koa.callback()).get('/').set('Cookie', `koa.sid=${sid}`)).body).to.deep.equal({ user: null });
      expect((await dump(d)).filter((line) => line.startsWith('koa:sess:'))).to.deep.equal([]);
    });

    it('after the migration, requests read only the hashed key', async () => {
      const sid = 'another-legacy-id-0123456789';
      const raw = 'koa:sess:' + sid;
      await (await d.nodeFor(raw)).command('SET', raw, JSON.stringify({ user: 'bob', cookie: COOKIE }), 'PX', 600_000);
      const koa = app({ store, cookie: { signed: false }, hashIds: { migrate: true } }, handler);
      const first = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${sid}`);
      expect(first.body).to.deep.equal({ user: 'bob' });
      await Promise.all(d.nodes().map((n) => n.resetStats()));
      const second = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${sid}`);
      expect(second.body).to.deep.equal({ user: 'bob' });
      let gets = 0;
      let others = 0;
      for (const node of d.nodes()) {
        const stats = await node.commandStats();
        gets += stats.get ?? 0;
        others += (stats.evalsha ?? 0) + (stats.eval ?? 0) + (stats.set ?? 0) + (stats.del ?? 0);
      }
      expect({ gets, others }).to.deep.equal({ gets: 1, others: 0 });
    });
  });
}
