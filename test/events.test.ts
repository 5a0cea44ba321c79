import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';
import session, {
  MemoryStore,
  type SessionEventName,
  type SessionMiddleware,
  type SessionOptions,
  type SessionStore,
} from '../lib/index.js';
import { handleOf } from '../lib/events.js';
import { FakeClock } from './support/clock.js';
import { Gate } from './support/gate.js';
import { cookieOf } from './support/owners-app.js';

const AUDITED: SessionEventName[] = ['created', 'regenerated', 'destroyed', 'expired', 'lost', 'invalid'];

type Recorded = { event: SessionEventName; payload: Record<string, unknown> };

/** Every audit event of `mw`, in order. */
function record(mw: SessionMiddleware): Recorded[] {
  const seen: Recorded[] = [];
  for (const event of AUDITED) {
    // one listener shape for all of them: the payloads are compared as records
    mw.on(event as 'created', (payload: object) => void seen.push({ event, payload: payload as Record<string, unknown> }));
  }
  return seen;
}

/** The events without their ctx, as an audit log would write them. */
function withoutCtx(seen: Recorded[]): Array<{ event: string } & Record<string, unknown>> {
  return seen.map(({ event, payload }) => {
    const { ctx, ...rest } = payload;
    return { event, ...rest };
  });
}

/**
 * /login?user=U regenerates and signs in; /logout sets ctx.session = null;
 * /change changes a field; /expire sets the session's own ttl to -1 (see
 * `ttl` below); /everywhere ends the user's other sessions; /held waits at
 * the gate, then changes a field; / reads.
 */
function auditApp(options: SessionOptions = {}, gate?: Gate) {
  const app = new Koa();
  app.keys = ['events test key'];
  app.silent = true;
  const mw = session({
    owner: (s) => s.userId as string | undefined,
    ttl: (s) => (s.ended ? -1 : 60_000),
    ...options,
  });
  app.use(mw);
  app.use(async (ctx) => {
    if (ctx.path === '/logout') {
      // before any read: in defer mode, the destroy without a load
      ctx.session = null;
      ctx.body = {};
      return;
    }
    // (a Promise in defer mode)
    let s = (await ctx.session)!;
    if (ctx.path === '/login') {
      s = await ctx.regenerateSession();
      s.userId = String(ctx.query.user);
    } else if (ctx.path === '/change') {
      s.n = Number(s.n ?? 0) + 1;
    } else if (ctx.path === '/expire') {
      s.ended = true;
    } else if (ctx.path === '/everywhere') {
      ctx.body = { ended: await ctx.sessionStore.destroySessions(s.userId as string, { except: ctx.sessionId }) };
      return;
    } else if (ctx.path === '/held' && gate) {
      await gate.hold('held');
      s.n = 1;
    }
    ctx.body = { sid: ctx.sessionId, userId: s.userId ?? null };
  });
  return { app, mw, agent: () => request(app.callback()) };
}

async function login(app: Koa, user: string, cookie = ''): Promise<{ cookie: string; sid: string }> {
  const res = await request(app.callback()).get(`/login?user=${user}`).set('Cookie', cookie).expect(200);
  return { cookie: cookieOf(res), sid: res.body.sid as string };
}

const handle = (sid: string, handleKey?: string) => handleOf('koa:sess:' + sid, handleKey);

describe('events: the audit trail of sessions (MemoryStore)', () => {
  it('created on the first save only, with the handle listSessions shows, the owner and the request', async () => {
    const { app, mw } = auditApp();
    const seen = record(mw);
    let ctxSeen: unknown;
    app.middleware.unshift(async (ctx, next) => {
      ctxSeen = ctx;
      await next();
    });
    const ann = await login(app, 'ann');
    expect(withoutCtx(seen)).to.deep.equal([
      { event: 'regenerated', handle: handle(ann.sid), previous: undefined, owner: undefined },
      { event: 'created', handle: handle(ann.sid), owner: 'ann' },
    ]);
    expect(seen[1]!.payload.ctx).to.equal(ctxSeen);
    const [listed] = await mw.listSessions('ann');
    expect(listed!.handle).to.equal(handle(ann.sid));
    await request(app.callback()).get('/change').set('Cookie', ann.cookie).expect(200);
    expect(seen).to.have.length(2);
  });

  it('regenerated names the old and the new session; the old one is not reported destroyed as well', async () => {
    const { app, mw } = auditApp();
    const first = await login(app, 'ann');
    const seen = record(mw);
    const second = await login(app, 'ann', first.cookie);
    expect(second.sid).to.not.equal(first.sid);
    expect(withoutCtx(seen)).to.deep.equal([
      { event: 'regenerated', handle: handle(second.sid), previous: handle(first.sid), owner: 'ann' },
      { event: 'created', handle: handle(second.sid), owner: 'ann' },
    ]);
  });

  it('destroyed by logout (ctx.session = null), in both load modes', async () => {
    for (const defer of [false, true]) {
      const { app, mw } = auditApp(defer ? { defer: true, owner: undefined } : {});
      const ann = await login(app, 'ann');
      const seen = record(mw);
      await request(app.callback()).get('/logout').set('Cookie', ann.cookie).expect(200);
      expect(withoutCtx(seen), `defer: ${defer}`).to.deep.equal([
        { event: 'destroyed', handle: handle(ann.sid), owner: defer ? undefined : 'ann', cause: 'logout' },
      ]);
      expect(seen[0]!.payload.ctx).to.be.an('object');
    }
  });

  it('destroyed by destroySessions: one event per session it ended, without a request', async () => {
    const { app, mw } = auditApp();
    const [mine, other1, other2] = [await login(app, 'ann'), await login(app, 'ann'), await login(app, 'ann')];
    await login(app, 'bob');
    const seen = record(mw);
    expect((await request(app.callback()).get('/everywhere').set('Cookie', mine!.cookie)).body).to.deep.equal({ ended: 2 });
    expect(withoutCtx(seen).sort((a, b) => String(a.handle).localeCompare(String(b.handle)))).to.deep.equal(
      [other1!, other2!]
        .map(({ sid }) => ({ event: 'destroyed', handle: handle(sid), owner: 'ann', cause: 'destroySessions' }))
        .sort((a, b) => a.handle.localeCompare(b.handle)),
    );
    expect(seen.every(({ payload }) => payload.ctx === undefined)).to.equal(true);
    seen.length = 0;
    expect(await mw.destroySessions('ann')).to.equal(1);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'destroyed', handle: handle(mine!.sid), owner: 'ann', cause: 'destroySessions' }]);
  });

  it('destroyed with cause ttl when a save computes a ttl at or below 0', async () => {
    const { app, mw } = auditApp();
    const ann = await login(app, 'ann');
    const seen = record(mw);
    await request(app.callback()).get('/expire').set('Cookie', ann.cookie).expect(200);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'destroyed', handle: handle(ann.sid), owner: 'ann', cause: 'ttl' }]);
    expect(await mw.listSessions('ann')).to.deep.equal([]);
  });

  describe('with a controlled clock', () => {
    let clock: FakeClock;
    beforeEach(() => (clock = new FakeClock()));
    afterEach(() => clock.restore());

    it('destroyed with cause absoluteTimeout when the end passes while a request runs; expired after it', async () => {
      const gate = new Gate();
      const { app, mw } = auditApp({ absoluteTimeout: 60_000 }, gate);
      const ann = await login(app, 'ann');
      const seen = record(mw);
      const held = request(app.callback()).get('/held').set('Cookie', ann.cookie).then((r) => r);
      await gate.reached('held');
      clock.advance(60_000);
      gate.open('held');
      expect((await held).status).to.equal(200);
      expect(withoutCtx(seen)).to.deep.equal([{ event: 'destroyed', handle: handle(ann.sid), owner: 'ann', cause: 'absoluteTimeout' }]);

    });

    it('expired with reason absoluteTimeout: a store that kept the session past its absolute end', async () => {
      // a store that ignores the ttl (MemoryStore would have expired it itself: reason missing)
      const values = new Map<string, string>();
      const store: SessionStore = {
        get: (key) => (values.has(key) ? JSON.parse(values.get(key)!) : null),
        set: (key, session) => void values.set(key, JSON.stringify(session)),
        destroy: (key) => void values.delete(key),
      };
      const { app, mw } = auditApp({ store, absoluteTimeout: 60_000, owner: undefined });
      const bob = await login(app, 'bob');
      const seen = record(mw);
      clock.advance(60_000);
      await request(app.callback()).get('/').set('Cookie', bob.cookie).expect(200);
      expect(withoutCtx(seen)).to.deep.equal([{ event: 'expired', handle: handle(bob.sid), owner: undefined, reason: 'absoluteTimeout' }]);
      expect(values.size).to.equal(0);
    });
  });

  it('expired: the store no longer has the session the cookie names (reason missing, owner unknown)', async () => {
    const store = new MemoryStore();
    const { app, mw } = auditApp({ store });
    const ann = await login(app, 'ann');
    store.destroy('koa:sess:' + ann.sid);
    const seen = record(mw);
    const res = await request(app.callback()).get('/').set('Cookie', ann.cookie).expect(200);
    expect(res.body.sid).to.not.equal(ann.sid);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'expired', handle: handle(ann.sid), owner: undefined, reason: 'missing' }]);
    // a request without a cookie names no session: nothing to report
    await request(app.callback()).get('/').expect(200);
    expect(seen).to.have.length(1);
  });

  it('expired: a stored session past its cookie.expires (reason expires)', async () => {
    const store = new MemoryStore();
    const { app, mw } = auditApp({ store });
    const ann = await login(app, 'ann');
    store.set('koa:sess:' + ann.sid, { cookie: { expires: new Date(Date.now() - 1000) }, userId: 'ann' }, 60_000);
    const seen = record(mw);
    await request(app.callback()).get('/').set('Cookie', ann.cookie).expect(200);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'expired', handle: handle(ann.sid), owner: 'ann', reason: 'expires' }]);
  });

  it('lost: the session was destroyed while a request held it; the save writes nothing and the app is told', async () => {
    const store = new MemoryStore();
    const gate = new Gate();
    const { app, mw } = auditApp({ store }, gate);
    const ann = await login(app, 'ann');
    const seen = record(mw);
    const held = request(app.callback()).get('/held').set('Cookie', ann.cookie).then((r) => r);
    await gate.reached('held');
    store.destroy('koa:sess:' + ann.sid);
    gate.open('held');
    const res = await held;
    expect(res.status).to.equal(200);
    expect(store.size).to.equal(0);
    expect(withoutCtx(seen)).to.deep.equal([{ event: 'lost', handle: handle(ann.sid), owner: 'ann' }]);
    expect(seen[0]!.payload.ctx).to.be.an('object');
  });

  it("invalid: the middleware's refusal of stored data, reported once, not also as expired", async () => {
    const values = new Map<string, unknown>([['koa:sess:polluted', JSON.parse('{"cookie":{},"__proto__":{"admin":true}}')]]);
    const store: SessionStore = { get: (key) => values.get(key) as never, set: () => {}, destroy: () => {} };
    const app = new Koa();
    app.silent = true;
    const mw = session({ store, cookie: { signed: false } });
    app.use(mw);
    app.use((ctx) => (ctx.body = 'ok'));
    const seen = record(mw);
    await request(app.callback()).get('/').set('Cookie', 'koa.sid=polluted').expect(200);
    expect(withoutCtx(seen)).to.deep.equal([
      {
        event: 'invalid',
        reason: 'stored data is not a plain session object, or it has a prototype-polluting key',
        source: 'middleware',
        handle: handle('polluted'),
      },
    ]);
    expect(seen[0]!.payload.ctx).to.be.an('object');
  });

  it('no event payload carries a session id', async () => {
    const store = new MemoryStore();
    const gate = new Gate();
    const { app, mw } = auditApp({ store }, gate);
    const seen = record(mw);
    const sids: string[] = [];
    const track = (s: { sid: string; cookie: string }) => (sids.push(s.sid), s);
    const a = track(await login(app, 'ann'));
    const b = track(await login(app, 'ann', a.cookie));
    const c = track(await login(app, 'ann'));
    const d = track(await login(app, 'ann'));
    await request(app.callback()).get('/logout').set('Cookie', c.cookie);
    await request(app.callback()).get('/expire').set('Cookie', d.cookie);
    const e = track(await login(app, 'ann'));
    const held = request(app.callback()).get('/held').set('Cookie', e.cookie).then((r) => r);
    await gate.reached('held');
    store.destroy('koa:sess:' + e.sid);
    gate.open('held');
    await held;
    await request(app.callback()).get('/').set('Cookie', e.cookie);
    track(await login(app, 'ann'));
    await mw.destroySessions('ann');
    expect(new Set(seen.map((s) => s.event))).to.deep.equal(new Set(['created', 'regenerated', 'destroyed', 'expired', 'lost']));
    const text = JSON.stringify(withoutCtx(seen));
    for (const sid of sids) expect(text).to.not.contain(sid);
    expect(text).to.contain(handle(b.sid));
  });

  it('with hashIds, an event names the session as listSessions does (the handle of its hashed key)', async () => {
    const { app, mw } = auditApp({ hashIds: true });
    const seen = record(mw);
    const ann = await login(app, 'ann');
    const [listed] = await mw.listSessions('ann');
    expect(seen.map((s) => s.event)).to.deep.equal(['regenerated', 'created']);
    expect(seen[1]!.payload.handle).to.equal(listed!.handle);
    expect(listed!.handle).to.not.equal(handle(ann.sid));
  });

  it('handleKey keys the handles: the same in every middleware that shares it, different without it', async () => {
    const store = new MemoryStore();
    const one = auditApp({ store, handleKey: 'deployment secret' });
    const two = auditApp({ store, handleKey: 'deployment secret' });
    const plain = auditApp({ store });
    const seen = record(two.mw);
    const ann = await login(one.app, 'ann');
    await request(two.app.callback()).get('/logout').set('Cookie', ann.cookie).expect(200);
    expect(seen[0]!.payload.handle).to.equal(handle(ann.sid, 'deployment secret'));
    const bob = await login(one.app, 'bob');
    const [keyed] = await one.mw.listSessions('bob');
    const [unkeyed] = await plain.mw.listSessions('bob');
    expect(keyed!.handle).to.equal((await two.mw.listSessions('bob'))[0]!.handle);
    expect(keyed!.handle).to.not.equal(unkeyed!.handle);
    expect(unkeyed!.handle).to.equal(handle(bob.sid));
  });
});
