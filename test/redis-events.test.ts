import { expect } from 'chai';
import { once } from 'node:events';
import Koa from 'koa';
import request from 'supertest';
import session, { type SessionEventName, type SessionMiddleware, type SessionOptions } from '../lib/index.js';
import { handleOf } from '../lib/events.js';
import { RedisStore, type RedisStoreInvalidValue } from '../lib/store/redis.js';
import { Gate } from './support/gate.js';
import { cookieOf } from './support/owners-app.js';
import { RedisServer, stopAllRedis } from './support/redis.js';

type Recorded = { event: SessionEventName; payload: Record<string, unknown> };

function record(mw: SessionMiddleware): Recorded[] {
  const seen: Recorded[] = [];
  for (const event of ['created', 'regenerated', 'destroyed', 'expired', 'lost', 'invalid'] as const) {
    // one listener shape for all of them: the payloads are compared as records
    mw.on(event as 'created', (payload: object) => void seen.push({ event, payload: payload as Record<string, unknown> }));
  }
  return seen;
}

const withoutCtx = (seen: Recorded[]) =>
  seen.map(({ event, payload }) => {
    const { ctx, ...rest } = payload;
    return { event, ...rest };
  });

const handle = (sid: string) => handleOf('koa:sess:' + sid, undefined);

describe('events with a real Redis (RedisStore)', () => {
  let redis: RedisServer;
  let store: RedisStore;

  before(async () => {
    redis = await RedisServer.start({ label: 'events' });
  });
  after(stopAllRedis);
  beforeEach(async () => {
    await redis.command('FLUSHALL');
    store = new RedisStore({ url: redis.url });
    await once(store, 'connect');
  });
  afterEach(() => store.quit());

  /** /login?user=U signs in; /held waits at the gate, then changes a field; / reads. */
  function app(gate = new Gate(), options: SessionOptions = {}) {
    const koa = new Koa();
    koa.keys = ['redis events key'];
    koa.silent = true;
    const mw = session({ store, owner: (s) => s.userId as string | undefined, ...options });
    koa.use(mw);
    koa.use(async (ctx) => {
      if (ctx.path === '/login') {
        await ctx.regenerateSession();
        ctx.session!.userId = String(ctx.query.user);
      } else if (ctx.path === '/held') {
        await gate.hold('held');
        ctx.session!.n = 1;
      }
      ctx.body = { sid: ctx.sessionId };
    });
    return { koa, mw, gate };
  }

  async function login(koa: Koa, user: string) {
    const res = await request(koa.callback()).get(`/login?user=${user}`).expect(200);
    return { cookie: cookieOf(res), sid: res.body.sid as string };
  }

  it('lost: another client deleted the key while a request held the session; the save writes nothing', async () => {
    const { koa, mw, gate } = app();
    const ann = await login(koa, 'ann');
    const seen = record(mw);
    const held = request(koa.callback()).get('/held').set('Cookie', ann.cookie).then((r) => r);
    await gate.reached('held');
    expect(await redis.command('DEL', 'koa:sess:' + ann.sid)).to.equal(1);
    gate.open('held');
    const res = await held;
    expect(res.status).to.equal(200);
    expect(await redis.command('EXISTS', 'koa:sess:' + ann.sid)).to.equal(0);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'lost', handle: handle(ann.sid), owner: 'ann' }]);
    expect(seen[0]!.payload.ctx).to.be.an('object');
  });

  it("invalid: RedisStore's own refusal of a read reaches the middleware's listeners once, with the request, and not as expired", async () => {
    const { koa, mw } = app();
    const ann = await login(koa, 'ann');
    const storeSaw: RedisStoreInvalidValue[] = [];
    store.on('invalid', (info) => storeSaw.push(info));
    const seen = record(mw);
    await redis.command('SET', 'koa:sess:' + ann.sid, 'not json');
    const res = await request(koa.callback()).get('/').set('Cookie', ann.cookie).expect(200);
    expect(res.body.sid).to.not.equal(ann.sid);
    expect(storeSaw).to.have.length(1);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'invalid', reason: storeSaw[0]!.reason, source: 'store', handle: handle(ann.sid) }]);
    expect(seen[0]!.payload.ctx).to.be.an('object');
    // two requests reading it at once: two refusals, each reported once with its own request
    seen.length = 0;
    const both = await Promise.all([1, 2].map(() => request(koa.callback()).get('/').set('Cookie', ann.cookie)));
    expect(both.map((r) => r.status)).to.deep.equal([200, 200]);
    expect(seen.map((s) => s.event)).to.deep.equal(['invalid', 'invalid']);
    expect(seen[0]!.payload.ctx).to.not.equal(seen[1]!.payload.ctx);
  });

  it('invalid, not lost: the stored value became unmergeable while a request held the session', async () => {
    const { koa, mw, gate } = app();
    const ann = await login(koa, 'ann');
    const seen = record(mw);
    const held = request(koa.callback()).get('/held').set('Cookie', ann.cookie).then((r) => r);
    await gate.reached('held');
    await redis.command('SET', 'koa:sess:' + ann.sid, '[1,2]');
    gate.open('held');
    expect((await held).status).to.equal(200);
    expect(await redis.command('GET', 'koa:sess:' + ann.sid)).to.equal('[1,2]');
    expect(withoutCtx(seen)).to.deep.equal([
      { event: 'invalid', reason: 'not a JSON object, so the change could not be merged into it', source: 'store', handle: handle(ann.sid) },
    ]);
    expect(seen[0]!.payload.ctx).to.be.an('object');
  });

  it('expired (missing) after the key expired in Redis; destroySessions reports each session it ended', async () => {
    const { koa, mw } = app();
    const ann = await login(koa, 'ann');
    const other = await login(koa, 'ann');
    const seen = record(mw);
    await redis.command('DEL', 'koa:sess:' + ann.sid);
    await request(koa.callback()).get('/').set('Cookie', ann.cookie).expect(200);
    expect(await mw.destroySessions('ann')).to.equal(1);
    expect(withoutCtx(seen)).to.deep.equal([
      { event: 'expired', handle: handle(ann.sid), owner: undefined, reason: 'missing' },
      { event: 'destroyed', handle: handle(other.sid), owner: 'ann', cause: 'destroySessions' },
    ]);
  });

  it('destroyed with cause limit (maxSessionsPerOwner) and destroySession, each naming the session listSessions showed', async () => {
    const { koa, mw } = app(new Gate(), { maxSessionsPerOwner: 2 });
    const earlier = [await login(koa, 'ann'), await login(koa, 'ann')];
    const listed = (await mw.listSessions('ann')).map((d) => d.handle).sort();
    expect(listed).to.deep.equal(earlier.map((l) => handle(l.sid)).sort());
    const seen = record(mw);
    const third = await login(koa, 'ann');
    // the one seen least recently is ended (the first, unless both logins fell in one millisecond)
    const ended = earlier.find((l) => handle(l.sid) === seen[2]?.payload.handle)!;
    expect(ended, 'one of the earlier sessions').to.not.equal(undefined);
    const kept = earlier.find((l) => l !== ended)!;
    expect(withoutCtx(seen)).to.deep.equal([
      { event: 'regenerated', handle: handle(third.sid), previous: undefined, owner: undefined },
      { event: 'created', handle: handle(third.sid), owner: 'ann' },
      { event: 'destroyed', handle: handle(ended.sid), owner: 'ann', cause: 'limit' },
    ]);
    expect(seen[2]!.payload.ctx, 'the sign-in that ended it').to.equal(seen[1]!.payload.ctx);
    expect(await redis.command('EXISTS', 'koa:sess:' + ended.sid)).to.equal(0);
    seen.length = 0;
    expect(await mw.destroySession('ann', handle(kept.sid))).to.equal(true);
    expect(await mw.destroySession('ann', handle(kept.sid))).to.equal(false);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'destroyed', handle: handle(kept.sid), owner: 'ann', cause: 'destroySession' }]);
  });

  it("a store's invalid for another prefix on a shared store is not this middleware's", async () => {
    const { mw } = app();
    const seen = record(mw);
    await redis.command('SET', 'other:x', 'not json');
    expect(await store.get('other:x')).to.equal(null);
    await redis.command('SET', 'koa:sess:y', 'not json');
    expect(await store.get('koa:sess:y')).to.equal(null);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'invalid', reason: seen[0]!.payload.reason, source: 'store', handle: handle('y') }]);
  });
});
