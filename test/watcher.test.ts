import { expect } from 'chai';
import request from 'supertest';
import session, { SessionStoreUnavailableError, type StoreStatus } from '../lib/index.js';
import { app, agent, setCookies } from './support/app.js';
import { EmitterStore } from './support/emitter-store.js';
import { runTs } from './support/child.js';
import { until } from './support/wait.js';
import Koa from 'koa';

function counterApp(store: EmitterStore, options: Parameters<typeof session>[0] = {}) {
  const errors: unknown[] = [];
  const koa = app({ store, reconnectTimeout: 100, ...options }, async (ctx) => {
    if (ctx.path === '/untouched') {
      ctx.body = 'untouched';
      return;
    }
    const s = await ctx.session;
    s!.n = ((s!.n as number) ?? 0) + 1;
    ctx.body = { n: s!.n, degraded: ctx.sessionDegraded === true };
  });
  koa.on('error', (err) => errors.push(err));
  // the session middleware runs synchronously until its first await: in the pending window,
  // that is the watcher's wait, so a request counted here is parked there (or went to the store)
  let reached = 0;
  koa.middleware.unshift((ctx, next) => {
    const rest = next();
    reached++;
    return rest;
  });
  return { koa, errors, reached: () => reached };
}

describe('store watcher (reconnectTimeout)', () => {
  it('goes available -> pending -> available and emits each transition', async () => {
    const store = new EmitterStore();
    const mw = session({ store, reconnectTimeout: 1000 });
    const seen: Array<[StoreStatus, StoreStatus]> = [];
    mw.on('status', (now, before) => seen.push([now, before]));
    expect(mw.status).to.equal('available');
    store.disconnect();
    expect(mw.status).to.equal('pending');
    store.reconnect();
    expect(mw.status).to.equal('available');
    expect(seen).to.deep.equal([
      ['pending', 'available'],
      ['available', 'pending'],
    ]);
  });

  it('a request in the pending window waits for connect, then uses the store', async () => {
    const store = new EmitterStore();
    const { koa, reached } = counterApp(store, { reconnectTimeout: 5000 });
    const a = agent(koa);
    await a.get('/');
    store.disconnect();
    const getsBefore = store.ops().filter((op) => op === 'get').length;
    let answered = false;
    const pending = a.get('/').then((r) => ((answered = true), r));
    await until(() => reached() === 2, 'the request to reach the session middleware');
    // it reached the middleware and waits: no new get, no answer
    expect(store.ops().filter((op) => op === 'get').length).to.equal(getsBefore);
    expect(answered).to.equal(false);
    const connectedAt = Date.now();
    store.reconnect();
    const res = await pending;
    expect(res.status).to.equal(200);
    expect(res.body.n).to.equal(2);
    console.log(`      connect -> first successful response: ${Date.now() - connectedAt} ms`);
  });

  it('fails requests with the exact unavailable error after reconnectTimeout, then at once', async () => {
    const store = new EmitterStore();
    const { koa, errors } = counterApp(store, { reconnectTimeout: 80 });
    store.disconnect();
    const started = Date.now();
    const res = await request(koa.callback()).get('/');
    const waited = Date.now() - started;
    expect(res.status).to.equal(503);
    const err = errors[0] as SessionStoreUnavailableError;
    expect(err).to.be.instanceOf(SessionStoreUnavailableError);
    expect(err.message).to.equal('session store is unavailable');
    expect(err.code).to.equal('ERR_SESSION_STORE_UNAVAILABLE');
    expect(err.waitedMs).to.be.at.least(60);
    console.log(`      longest wait in a timed-out window: ${waited} ms (reconnectTimeout 80 ms)`);

    const mwStatus = await request(koa.callback()).get('/');
    expect(mwStatus.status).to.equal(503);
    expect((errors[1] as SessionStoreUnavailableError).waitedMs).to.equal(0);
    store.reconnect();
    expect((await request(koa.callback()).get('/')).status).to.equal(200);
  });

  it('releases every waiter at once on connect', async () => {
    const store = new EmitterStore();
    const { koa, reached } = counterApp(store, { reconnectTimeout: 5000 });
    const login = await request(koa.callback()).get('/').expect(200);
    const cookie = setCookies(login).map((c) => c.split(';')[0]).join('; ');
    store.disconnect();
    store.calls.length = 0;
    let answered = 0;
    const waiting = Array.from({ length: 50 }, () =>
      request(koa.callback())
        .get('/')
        .set('Cookie', cookie)
        .then((r) => (answered++, r)),
    );
    await until(() => reached() === 51, 'all 50 requests to reach the session middleware');
    // all 50 wait in the middleware: none has loaded its session, none was answered
    expect(store.ops()).to.deep.equal([]);
    expect(answered).to.equal(0);
    // one connect releases them all
    store.reconnect();
    await until(() => answered === 50, 'all 50 answered after one connect', 20_000);
    const statuses = (await Promise.all(waiting)).map((r) => r.status);
    expect(statuses).to.deep.equal(Array(50).fill(200));
    expect(store.ops().filter((op) => op === 'get')).to.have.length(50);
  });

  it('repeated disconnects do not restart the window', async () => {
    const store = new EmitterStore();
    const mw = session({ store, reconnectTimeout: 150 });
    const transitions: StoreStatus[] = [];
    mw.on('status', (s) => transitions.push(s));
    const realSet = globalThis.setTimeout;
    const windows: number[] = [];
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      windows.push(ms);
      return realSet(fn, ms);
    }) as typeof setTimeout;
    try {
      store.disconnect();
      store.disconnect();
    } finally {
      globalThis.setTimeout = realSet;
    }
    await new Promise((r) => setImmediate(r));
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      windows.push(ms);
      return realSet(fn, ms);
    }) as typeof setTimeout;
    try {
      store.disconnect();
    } finally {
      globalThis.setTimeout = realSet;
    }
    // one window, timed from the first disconnect: a restarted window would start a second timer
    expect(windows).to.deep.equal([150]);
    await new Promise<void>((resolve) => mw.on('status', (s) => s === 'unavailable' && resolve()));
    expect(transitions).to.deep.equal(['pending', 'unavailable']);
    store.reconnect();
  });

  it('one timer per window, cleared on connect, and unref\'d', () => {
    const store = new EmitterStore();
    session({ store, reconnectTimeout: 10_000 });
    const realSet = globalThis.setTimeout;
    const realClear = globalThis.clearTimeout;
    const created: NodeJS.Timeout[] = [];
    const cleared: unknown[] = [];
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      const t = realSet(fn, ms);
      created.push(t);
      return t;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((t: NodeJS.Timeout) => {
      cleared.push(t);
      realClear(t);
    }) as typeof clearTimeout;
    try {
      store.disconnect();
      store.disconnect();
      store.reconnect();
      store.disconnect();
      store.reconnect();
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
    expect(created).to.have.length(2);
    expect(cleared).to.deep.equal(created);
    expect(created.every((t) => !t.hasRef())).to.equal(true);
  });

  it('10,000 waiting requests add no listener to the store and print no warning', async () => {
    const store = new EmitterStore();
    const mw = session({ store, reconnectTimeout: 5000 });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const before = store.listenerCount('connect') + store.listenerCount('disconnect');
    store.disconnect();
    const koa = new Koa();
    koa.keys = ['k'];
    koa.use(mw);
    koa.use((ctx) => {
      ctx.body = ctx.sessionId;
    });
    // call the middleware directly: 10,000 HTTP requests would measure the HTTP stack, not the watcher
    const results = Array.from({ length: 10_000 }, () => {
      const ctx = { path: '/', req: { headers: {} }, app: koa, cookies: { set() {}, get() {} }, headerSent: false } as never;
      return mw(ctx, async () => {}).then(
        () => 'ok',
        (e: Error) => e.message,
      );
    });
    await new Promise((r) => setImmediate(r));
    expect(store.listenerCount('connect') + store.listenerCount('disconnect')).to.equal(before);
    store.reconnect();
    const outcomes = await Promise.all(results);
    process.off('warning', onWarning);
    expect(new Set(outcomes)).to.deep.equal(new Set(['ok']));
    expect(warnings).to.deep.equal([]);
  });

  it('50 middlewares on one store: one listener per event, no warning, every one follows the store', async () => {
    const store = new EmitterStore();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const mws = Array.from({ length: 50 }, () => session({ store, reconnectTimeout: 60_000 }));
      expect([store.listenerCount('connect'), store.listenerCount('disconnect')]).to.deep.equal([1, 1]);
      store.disconnect();
      expect(new Set(mws.map((mw) => mw.status))).to.deep.equal(new Set(['pending']));
      store.reconnect();
      expect(new Set(mws.map((mw) => mw.status))).to.deep.equal(new Set(['available']));
      // closing some leaves the others listening; closing the last removes the store's listeners
      await Promise.all(mws.slice(0, 49).map((mw) => mw.close({ timeout: 100, closeStore: false })));
      expect([store.listenerCount('connect'), store.listenerCount('disconnect')]).to.deep.equal([1, 1]);
      store.disconnect();
      expect(mws[49]!.status).to.equal('pending');
      store.reconnect();
      await mws[49]!.close({ timeout: 100, closeStore: false });
      expect([store.listenerCount('connect'), store.listenerCount('disconnect')]).to.deep.equal([0, 0]);
      // a middleware made afterwards subscribes again
      const later = session({ store, reconnectTimeout: 60_000 });
      expect(store.listenerCount('disconnect')).to.equal(1);
      store.disconnect();
      expect(later.status).to.equal('pending');
      store.reconnect();
      await new Promise((r) => setImmediate(r));
      expect(warnings).to.deep.equal([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a defer-mode request that never reads the session never waits', async () => {
    const store = new EmitterStore();
    const { koa } = counterApp(store, { defer: true, reconnectTimeout: 60_000 });
    store.disconnect();
    const res = await request(koa.callback()).get('/untouched');
    expect(res.status).to.equal(200);
    expect(res.text).to.equal('untouched');
    store.reconnect();
  });

  it('degraded: true serves an empty, unsaved session with ctx.sessionDegraded while unavailable', async () => {
    const store = new EmitterStore();
    const { koa } = counterApp(store, { degraded: true, reconnectTimeout: 20 });
    const a = agent(koa);
    await a.get('/');
    store.disconnect();
    // waits out the 20 ms window, then is served degraded
    const res = await a.get('/');
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ n: 1, degraded: true });
    expect(res.headers['set-cookie']).to.equal(undefined);
    store.reconnect();
    const back = await a.get('/');
    expect(back.body).to.deep.equal({ n: 2, degraded: false });
  });

  it('NODE_DEBUG=koa-generic-session:watcher names each transition', async () => {
    const result = await runTs('fixtures/debug-transitions.ts', { NODE_DEBUG: 'koa-generic-session:watcher' });
    expect(result.code).to.equal(0);
    expect(result.stderr).to.match(/store available -> pending/);
    expect(result.stderr).to.match(/store pending -> unavailable/);
    expect(result.stderr).to.match(/store unavailable -> available/);
  });

  describe('koa-generic-session 2.3.1 bugs that do not exist here', () => {
    it('a disconnect with no waiting request: 2.3.1 crashes Node with an unhandled rejection, this package does not', async () => {
      const theirs = await runTs('fixtures/disconnect-idle.ts', { IMPL: 'theirs' });
      expect(theirs.code).to.equal(1);
      expect(theirs.stderr).to.match(/session store is unavailable/);
      const ours = await runTs('fixtures/disconnect-idle.ts', { IMPL: 'ours' });
      expect(ours.stderr).to.equal('');
      expect(ours.stdout).to.equal('survived\n');
      expect(ours.code).to.equal(0);
    });
  });
});
