// storeTimeout: a bound on every store call of the middleware. A store whose
// promise never settles fails its request with SessionStoreTimeoutError (503)
// through errorHandler, sets no cookie, and its late answer changes nothing.
import { once } from 'node:events';
import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';
import session, {
  MemoryStore,
  SessionStoreTimeoutError,
  type Session,
  type SessionErrorType,
  type SessionOptions,
  type StoreMethod,
} from '../lib/index.js';
import { RedisStore } from '../lib/store/redis.js';
import { cookieValue, setCookies } from './support/app.js';
import { RedisServer, rawCommand, stopAllRedis } from './support/redis.js';

type Op = Extract<StoreMethod, keyof MemoryStore>;

/**
 * A MemoryStore behind promises, whose calls can be made to hang: a hung call
 * never settles unless the test settles it later (`late`), which then applies
 * it to the MemoryStore, as a slow store would.
 */
class HangingStore {
  readonly memory = new MemoryStore();
  readonly hang = new Set<Op>();
  readonly started: Op[] = [];
  readonly #late: Array<(err?: Error) => void> = [];

  #call<T>(op: Op, apply: () => T): Promise<T> {
    this.started.push(op);
    if (!this.hang.has(op)) return Promise.resolve(apply());
    return new Promise<T>((resolve, reject) => {
      this.#late.push((err) => {
        try {
          if (err !== undefined) throw err;
          resolve(apply());
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Lets every hung call complete now (or fail with `err`), long after its request gave up. */
  late(err?: Error): void {
    for (const finish of this.#late.splice(0)) finish(err);
  }

  get(key: string) {
    return this.#call('get', () => this.memory.get(key));
  }
  set(...args: Parameters<MemoryStore['set']>) {
    return this.#call('set', () => this.memory.set(...args));
  }
  destroy(...args: Parameters<MemoryStore['destroy']>) {
    return this.#call('destroy', () => this.memory.destroy(...args));
  }
  touch(...args: Parameters<MemoryStore['touch']>) {
    return this.#call('touch', () => this.memory.touch(...args));
  }
  merge(...args: Parameters<MemoryStore['merge']>) {
    return this.#call('merge', () => this.memory.merge(...args));
  }
  listOwned(...args: Parameters<MemoryStore['listOwned']>) {
    return this.#call('listOwned', () => this.memory.listOwned(...args));
  }
  destroyOwned(...args: Parameters<MemoryStore['destroyOwned']>) {
    return this.#call('destroyOwned', () => this.memory.destroyOwned(...args));
  }
}

function testApp(store: object, options: SessionOptions = {}) {
  const errors: unknown[] = [];
  const koa = new Koa();
  koa.keys = ['timeout key'];
  koa.on('error', (err: unknown) => errors.push(err));
  const mw = session({ store: store as never, storeTimeout: 50, owner: (s) => s.user as string | undefined, ...options });
  koa.use(mw);
  koa.use(async (ctx) => {
    const s = ctx.session as Session;
    if (ctx.path === '/login') s.user = 'ann';
    if (ctx.path === '/change') s.n = ((s.n as number) ?? 0) + 1;
    if (ctx.path === '/logout') ctx.session = null;
    if (ctx.path === '/devices') ctx.body = await mw.listSessions('ann');
    else ctx.body = { user: s?.user ?? null, n: s?.n ?? null };
  });
  return { koa, mw, errors };
}

/** Logs in and returns the cookie header of the new session and its store key. */
async function login(koa: Koa): Promise<{ cookie: string; key: string }> {
  const res = await request(koa.callback()).get('/login').expect(200);
  const sid = cookieValue(res, 'koa.sid')!;
  return { cookie: `koa.sid=${sid}; koa.sid.sig=${cookieValue(res, 'koa.sid.sig')!}`, key: 'koa:sess:' + sid };
}

function expectTimeout(err: unknown, method: StoreMethod, type?: SessionErrorType, timeoutMs = 50): void {
  expect(err).to.be.instanceOf(SessionStoreTimeoutError);
  const e = err as SessionStoreTimeoutError;
  expect(e).to.include({ code: 'ERR_SESSION_STORE_CALL_TIMEOUT', method, timeoutMs, statusCode: 503 });
  if (type !== undefined) expect(e.name).to.equal(`koa-generic-session ${type} error`);
}

describe('storeTimeout: a bound on every store call', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).to.deep.equal([]);
  });

  it('a get that never settles: 503 through errorHandler("get"), and its late answer is ignored', async () => {
    const store = new HangingStore();
    const { koa, errors } = testApp(store);
    const { cookie } = await login(koa);
    store.hang.add('get');
    const res = await request(koa.callback()).get('/').set('Cookie', cookie);
    expect(res.status).to.equal(503);
    expect(res.text).to.equal('Service Unavailable');
    expect(setCookies(res)).to.deep.equal([]);
    expect(errors).to.have.length(1);
    expectTimeout(errors[0], 'get', 'get');
    store.late();
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).to.have.length(1);
    // a late failure is ignored too: no second error, no unhandled rejection (checked after each test)
    expect((await request(koa.callback()).get('/').set('Cookie', cookie)).status).to.equal(503);
    store.late(new Error('the store failed, much later'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).to.have.length(2);
  });

  it('a set that never settles (new session): 503, no cookie; the late write is an orphan no client knows', async () => {
    const store = new HangingStore();
    const { koa, errors } = testApp(store);
    store.hang.add('set');
    const res = await request(koa.callback()).get('/login');
    expect(res.status).to.equal(503);
    expect(setCookies(res)).to.deep.equal([]);
    expectTimeout(errors[0], 'set', 'set');
    expect(store.memory.size).to.equal(0);
    store.late();
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.memory.size).to.equal(1);
    expect(errors).to.have.length(1);
  });

  it('a merge that never settles (changed session): 503, no cookie, the stored session unchanged until the store applies it late', async () => {
    const store = new HangingStore();
    const { koa, errors } = testApp(store);
    const { cookie, key } = await login(koa);
    store.hang.add('merge');
    const res = await request(koa.callback()).get('/change').set('Cookie', cookie);
    expect(res.status).to.equal(503);
    expect(setCookies(res)).to.deep.equal([]);
    expectTimeout(errors[0], 'merge', 'set');
    expect(store.memory.get(key)).to.not.have.property('n');
    // what the middleware cannot prevent: a store that cannot cancel applies the write when it gets to it
    store.late();
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.memory.get(key)).to.have.property('n', 1);
  });

  it('a whole-session set (merge: false) that never settles: 503 through errorHandler("set")', async () => {
    const store = new HangingStore();
    const { koa, errors } = testApp(store, { merge: false });
    const { cookie } = await login(koa);
    store.hang.add('set');
    const res = await request(koa.callback()).get('/change').set('Cookie', cookie);
    expect(res.status).to.equal(503);
    expect(setCookies(res)).to.deep.equal([]);
    expectTimeout(errors[0], 'set', 'set');
  });

  it('a destroy that never settles: 503 through errorHandler("destroy")', async () => {
    const store = new HangingStore();
    const { koa, errors } = testApp(store);
    const { cookie, key } = await login(koa);
    store.hang.add('destroy');
    const res = await request(koa.callback()).get('/logout').set('Cookie', cookie);
    expect(res.status).to.equal(503);
    expectTimeout(errors[0], 'destroy', 'destroy');
    expect(store.memory.get(key)).to.not.equal(null);
  });

  it('a touch (rolling) that never settles: 503 through errorHandler("set"), no cookie', async () => {
    const store = new HangingStore();
    const { koa, errors } = testApp(store, { rolling: true });
    const { cookie } = await login(koa);
    store.hang.add('touch');
    const res = await request(koa.callback()).get('/').set('Cookie', cookie);
    expect(res.status).to.equal(503);
    expect(setCookies(res)).to.deep.equal([]);
    expectTimeout(errors[0], 'touch', 'set');
  });

  it('owner calls: listSessions and destroySessions reject with the timeout', async () => {
    const store = new HangingStore();
    const { koa, mw } = testApp(store);
    await login(koa);
    store.hang.add('listOwned');
    store.hang.add('destroyOwned');
    const listed = await mw.listSessions('ann').then(() => undefined, (err: unknown) => err);
    expectTimeout(listed, 'listOwned');
    const destroyed = await mw.destroySessions('ann').then(() => undefined, (err: unknown) => err);
    expectTimeout(destroyed, 'destroyOwned');
  });

  it('a custom errorHandler gets the timeout with its type, as other store errors', async () => {
    const store = new HangingStore();
    const handled: Array<[string, SessionErrorType]> = [];
    const { koa } = testApp(store, {
      errorHandler: (err, type) => {
        handled.push([(err as SessionStoreTimeoutError).method, type]);
      },
    });
    const { cookie } = await login(koa);
    store.hang.add('get');
    store.hang.add('set');
    // the get's timeout is swallowed: a new session, whose save times out too; no cookie for it
    const res = await request(koa.callback()).get('/login').set('Cookie', cookie);
    expect(res.status).to.equal(200);
    expect(setCookies(res).filter((line) => !line.includes('expires=Thu, 01 Jan 1970'))).to.deep.equal([]);
    expect(handled).to.deep.equal([
      ['get', 'get'],
      ['set', 'set'],
    ]);
  });

  it('the default is 10000 ms and a healthy asynchronous store never meets it', async () => {
    const store = new HangingStore();
    const { koa } = testApp(store, { storeTimeout: undefined });
    const { cookie } = await login(koa);
    for (let i = 1; i <= 3; i++) {
      const res = await request(koa.callback()).get('/change').set('Cookie', cookie);
      expect(res.body.n).to.equal(i);
    }
    const timeout = new SessionStoreTimeoutError('get', 10_000);
    expect(timeout.message).to.include('10000ms').and.include('storeTimeout');
  });
});

describe('storeTimeout with RedisStore on a server that stops answering (SIGSTOP, SIGCONT)', () => {
  let redis: RedisServer;
  let store: RedisStore | undefined;
  before(async () => {
    redis = await RedisServer.start({ label: 'store-timeout' });
  });
  afterEach(async () => {
    if (redis.paused) redis.resume();
    await store?.quit();
    store = undefined;
  });
  after(stopAllRedis);

  /** An app whose /slow request loads its session, then waits for `gate` before changing it. */
  function slowApp(redisStore: RedisStore) {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const errors: unknown[] = [];
    const koa = new Koa();
    koa.keys = ['redis timeout key'];
    koa.on('error', (err: unknown) => errors.push(err));
    koa.use(session({ store: redisStore, storeTimeout: 100 }));
    koa.use(async (ctx) => {
      const s = ctx.session as Session;
      if (ctx.path === '/slow') {
        entered();
        await gate;
        s.v = 'late';
      } else {
        s.v = 'old';
      }
      ctx.body = 'ok';
    });
    return { koa, errors, open, inHandler };
  }

  async function stalledSave(redisStore: RedisStore) {
    const { koa, errors, open, inHandler } = slowApp(redisStore);
    const { cookie, key } = await login(koa);
    const slow = request(koa.callback()).get('/slow').set('Cookie', cookie).then((res) => res);
    await inHandler;
    redis.pause();
    open();
    const res = await slow;
    expect(res.status).to.equal(503);
    expect(setCookies(res)).to.deep.equal([]);
    expectTimeout(errors[0], 'merge', 'set', 100);
    // RedisStore gives up on its own at its commandTimeout, after the request has answered
    await once(redisStore, 'disconnect');
    const connected = once(redisStore, 'connect');
    redis.resume();
    await connected;
    return JSON.parse(String(await rawCommand(redis.port, ['GET', key]))) as Session;
  }

  it('storeTimeout below commandTimeout: the request answers 503 at once, and the deadline guard refuses the late write', async () => {
    store = new RedisStore({ url: redis.url, commandTimeout: 400 });
    await once(store, 'connect');
    expect((await stalledSave(store)).v).to.equal('old');
  });

  it('with guardWrites: false, the write the request gave up on lands when the server resumes', async () => {
    store = new RedisStore({ url: redis.url, commandTimeout: 400, guardWrites: false });
    await once(store, 'connect');
    expect((await stalledSave(store)).v).to.equal('late');
  });
});
