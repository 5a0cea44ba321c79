import { expect } from 'chai';
import type { Context } from 'koa';
import { app, agent, cookieValue, setCookies, MemoryStore } from './support/app.js';
import { TouchStore } from './support/stores.js';
import { FakeClock } from './support/clock.js';

const MINUTE = 60_000;

function handler(ctx: Context): void {
  if (ctx.path === '/set') ctx.session!.user = 'ann';
  if (ctx.path === '/count') ctx.session!.count = ((ctx.session!.count as number | undefined) ?? 0) + 1;
  ctx.body = { ...ctx.session, cookie: undefined };
}

describe('rolling: { renewAfter }', () => {
  let clock: FakeClock;
  beforeEach(() => (clock = new FakeClock()));
  afterEach(() => clock.restore());

  it('an unchanged session costs only the read, and sets no cookie, until renewAfter has passed', async () => {
    const store = new TouchStore();
    const a = agent(app({ store, rolling: { renewAfter: MINUTE } }, handler));
    const sid = cookieValue(await a.get('/set'), 'koa.sid')!;
    const saved = clock.now;
    store.calls.length = 0;

    clock.advance(MINUTE - 1);
    const before = await a.get('/');
    expect(store.ops(), '1 ms before renewAfter').to.deep.equal(['get']);
    expect(setCookies(before)).to.deep.equal([]);
    expect(store.stored('koa:sess:' + sid)!._kgs).to.deep.equal({ renewedAt: saved });

    clock.advance(1);
    const at = await a.get('/');
    expect(store.ops(), 'at renewAfter').to.deep.equal(['get', 'get', 'set']);
    expect(cookieValue(at, 'koa.sid')).to.equal(sid);
    expect(store.calls.at(-1)!.ttl).to.equal(86_400_000);
    expect(store.stored('koa:sess:' + sid)).to.deep.include({ user: 'ann', _kgs: { renewedAt: clock.now } });
    expect(at.body).to.deep.equal({ user: 'ann' });

    store.calls.length = 0;
    clock.advance(MINUTE - 1);
    await a.get('/');
    expect(store.ops(), 'within the interval after a renewal').to.deep.equal(['get']);
  });

  it('a changed session is saved at once, and its save counts as the renewal', async () => {
    const store = new TouchStore();
    const a = agent(app({ store, rolling: { renewAfter: MINUTE } }, handler));
    const sid = cookieValue(await a.get('/set'), 'koa.sid')!;
    clock.advance(10_000);
    store.calls.length = 0;
    const res = await a.get('/count');
    expect(store.ops()).to.deep.equal(['get', 'set']);
    expect(setCookies(res)).to.have.length(2);
    expect(store.stored('koa:sess:' + sid)!._kgs).to.deep.equal({ renewedAt: clock.now });
    clock.advance(MINUTE - 1);
    store.calls.length = 0;
    await a.get('/');
    expect(store.ops()).to.deep.equal(['get']);
  });

  it('renews a session stored without a renewal time on its first request', async () => {
    const store = new TouchStore();
    store.data.set('koa:sess:old', JSON.stringify({ user: 'bob', cookie: { signed: false, maxAge: 86_400_000 } }));
    const a = agent(app({ store, rolling: { renewAfter: MINUTE }, cookie: { signed: false } }, handler));
    a.jar.setCookie('koa.sid=old');
    const res = await a.get('/');
    expect(store.ops()).to.deep.equal(['get', 'set']);
    expect(cookieValue(res, 'koa.sid')).to.equal('old');
    expect(res.body).to.deep.equal({ user: 'bob' });
  });

  it('keeps an active session alive and lets an idle one expire within one interval of its ttl (MemoryStore, merge)', async () => {
    const store = new MemoryStore();
    const a = agent(app({ store, rolling: { renewAfter: 5 * MINUTE }, cookie: { maxAge: 30 * MINUTE } }, handler));
    const sid = cookieValue(await a.get('/set'), 'koa.sid')!;
    // active for two hours, a request every 4 minutes: renewed every other request
    for (let i = 0; i < 30; i++) {
      clock.advance(4 * MINUTE);
      expect((await a.get('/')).body).to.deep.equal({ user: 'ann' });
    }
    const last = clock.now;
    const renewedAt = (JSON.parse(JSON.stringify(await store.get('koa:sess:' + sid))) as { _kgs: { renewedAt: number } })._kgs.renewedAt;
    expect(last - renewedAt).to.be.within(0, 5 * MINUTE - 1);
    // idle from here: it ends 30 minutes after the last renewal, at most one interval before the exact idle end
    clock.advance(renewedAt + 30 * MINUTE - last - 1);
    expect(await store.get('koa:sess:' + sid)).to.not.equal(null);
    clock.advance(1);
    expect(await store.get('koa:sess:' + sid)).to.equal(null);
  });

  it('with absoluteTimeout, a renewal never extends the session past its absolute end', async () => {
    const store = new TouchStore();
    const a = agent(app({ store, rolling: { renewAfter: MINUTE }, absoluteTimeout: 10 * MINUTE }, handler));
    await a.get('/set');
    clock.advance(9 * MINUTE);
    await a.get('/');
    expect(store.calls.at(-1)).to.deep.include({ op: 'set', ttl: MINUTE });
  });
});
