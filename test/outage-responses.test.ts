// "The store cannot serve now" answers 503 with Koa's generic body on koa 1, 2
// and 3; apps that catch the error still get it; Koa's default logger prints
// no stack per request, the middleware one line when the outage begins and
// one when it ends.
import type { RequestListener } from 'node:http';
import { expect } from 'chai';
import request from 'supertest';
import koa1 from 'koa1';
import Koa2 from 'koa2';
import Koa from 'koa';
import session, {
  RedisStoreConnectionError,
  RedisStoreTimeoutError,
  SessionStoreOutageError,
  SessionStoreTimeoutError,
  SessionStoreUnavailableError,
  type SessionOptions,
} from '../lib/index.js';
import { session as koa1Session } from '../compat/index.js';
import { EmitterStore } from './support/emitter-store.js';
import { signedPair } from './support/hostile.js';

const KEYS = ['outage key'];
const ADDRESS = '127.0.0.1:6390';
const COOKIE = signedPair('koa.sid', 'someid000000000000000000', KEYS[0]!);

/** Everything console.error and console.warn print while `fn` runs, one entry per call. */
async function captureConsole(fn: () => Promise<void>): Promise<{ errors: string[]; warnings: string[] }> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const { error, warn } = console;
  console.error = (...args: unknown[]) => void errors.push(args.map(String).join(' '));
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(' '));
  try {
    await fn();
  } finally {
    console.error = error;
    console.warn = warn;
  }
  return { errors, warnings };
}

function route(ctx: Koa.Context): void {
  if (ctx.path === '/boom') throw new Error('an ordinary bug');
  (ctx.session as Record<string, unknown>).n = 1;
  ctx.body = 'ok';
}

/** A koa 1, 2 or 3 app with the session middleware and Koa's default error handling (no `error` listener). */
const VERSIONS: Array<{ name: string; make(options: SessionOptions): { koa: { silent?: boolean }; listener: RequestListener } }> = [
  {
    name: 'koa@1',
    make(options) {
      const koa = koa1();
      koa.keys = KEYS;
      koa.env = 'development'; // koa 1 logs nothing under 'test'
      koa.use(koa1Session(options));
      koa.use(function* (this: Koa.Context) {
        route(this);
      });
      return { koa, listener: koa.callback() };
    },
  },
  {
    name: 'koa@2',
    make(options) {
      const koa = new Koa2();
      koa.keys = KEYS;
      koa.use(session(options) as unknown as Koa2.Middleware);
      koa.use(route as unknown as Koa2.Middleware);
      return { koa, listener: koa.callback() };
    },
  },
  {
    name: 'koa@3',
    make(options) {
      const koa = new Koa();
      koa.keys = KEYS;
      koa.use(session(options));
      koa.use(route);
      return { koa, listener: koa.callback() };
    },
  },
];

describe('store outages answer 503 and are logged once', () => {
  it('every "cannot serve now" error is a SessionStoreOutageError with statusCode 503, expose false, and no status (as 2.3.1 gave apps)', () => {
    const errors = [
      new SessionStoreUnavailableError(0),
      new SessionStoreTimeoutError('get', 10),
      new RedisStoreTimeoutError('GET', 10),
      new RedisStoreConnectionError('GET', { cause: new Error(`connect ECONNREFUSED ${ADDRESS}`) }),
    ];
    for (const err of errors) {
      expect(err).to.be.instanceOf(SessionStoreOutageError);
      expect(err).to.include({ statusCode: 503, expose: false });
      expect(err).not.to.have.property('status');
    }
    expect(errors[0]!.message).to.equal('session store is unavailable');
  });

  for (const version of VERSIONS) {
    describe(`${version.name} with Koa's default error handling`, () => {
      it('answers 503 "Service Unavailable" without a stack per request, one line when the outage begins and one when it ends', async () => {
        const store = new EmitterStore();
        const { listener } = version.make({ store, reconnectTimeout: 20 });
        // koa v1 binds ctx.onerror before any middleware runs, so the wrapper that answers 503
        // there applies from an app's second request on: this app has served one already
        expect((await request(listener).get('/')).status).to.equal(200);
        const printed = await captureConsole(async () => {
          store.disconnect();
          for (let i = 0; i < 20; i++) {
            const res = await request(listener).get('/');
            expect(res.status).to.equal(503);
            expect(res.text).to.equal('Service Unavailable');
          }
          store.reconnect();
          expect((await request(listener).get('/')).status).to.equal(200);
          // other errors still reach Koa's logger
          expect((await request(listener).get('/boom')).status).to.equal(500);
        });
        expect(printed.warnings).to.have.length(2);
        expect(printed.warnings[0]).to.match(/^koa-generic-session: session store outage: requests answer 503/);
        expect(printed.warnings[0]).to.include('ERR_SESSION_STORE_UNAVAILABLE');
        expect(printed.warnings[1]).to.match(/^koa-generic-session: session store serves again after [\d.]+s; 20 request\(s\) failed with 503/);
        // (koa 1 prints an empty line before and after each stack)
        const logged = printed.errors.filter((text) => text.trim() !== '');
        expect(logged).to.have.length(1);
        expect(logged[0]).to.include('an ordinary bug');
      });
    });
  }

  it("a store error naming the server's address: the body stays generic, the log line has the detail", async () => {
    const store = new EmitterStore();
    const { listener } = VERSIONS[2]!.make({ store });
    const cause = new Error(`connect ECONNREFUSED ${ADDRESS}`);
    store.fail.get = new RedisStoreConnectionError('GET', { cause });
    const printed = await captureConsole(async () => {
      const res = await request(listener).get('/').set('Cookie', COOKIE);
      expect(res.status).to.equal(503);
      expect(res.text).to.equal('Service Unavailable');
      expect(JSON.stringify(res.headers) + res.text).not.to.include(ADDRESS);
    });
    expect(printed.errors).to.deep.equal([]);
    expect(printed.warnings).to.have.length(1);
    expect(printed.warnings[0]).to.include(ADDRESS);
  });

  it('an app that catches the error gets the renamed error itself: err.status || 500 answers 500 as with 2.3.1, err.statusCode says 503', async () => {
    const store = new EmitterStore();
    const caught: unknown[] = [];
    const koa = new Koa();
    koa.keys = KEYS;
    koa.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        caught.push(err);
        const e = err as { status?: number; statusCode?: number };
        ctx.status = ctx.path === '/mapped' ? (e.statusCode ?? 500) : (e.status ?? 500);
        ctx.body = 'try again soon';
      }
    });
    koa.use(session({ store }));
    koa.use(route);
    const failure = new RedisStoreTimeoutError('GET', 2000);
    store.fail.get = failure;
    const res = await request(koa.callback()).get('/').set('Cookie', COOKIE);
    expect(res.status).to.equal(500);
    expect(res.text).to.equal('try again soon');
    expect(caught).to.deep.equal([failure]);
    expect((await request(koa.callback()).get('/mapped').set('Cookie', COOKIE)).status).to.equal(503);
    // the default errorHandler's rename, as koa-generic-session does it
    expect(failure.name).to.equal('koa-generic-session get error');
  });

  it("an app with its own error listener sees every failed request, and the middleware prints nothing", async () => {
    const store = new EmitterStore();
    const koa = new Koa();
    koa.keys = KEYS;
    const seen: unknown[] = [];
    koa.on('error', (err: unknown) => seen.push(err));
    koa.use(session({ store, reconnectTimeout: 20 }));
    koa.use(route);
    const printed = await captureConsole(async () => {
      store.disconnect();
      for (let i = 0; i < 5; i++) expect((await request(koa.callback()).get('/')).status).to.equal(503);
      store.reconnect();
      expect((await request(koa.callback()).get('/')).status).to.equal(200);
    });
    expect(seen).to.have.length(5);
    for (const err of seen) expect(err).to.be.instanceOf(SessionStoreUnavailableError);
    expect(printed).to.deep.equal({ errors: [], warnings: [] });
    expect(koa.listeners('error')).to.have.length(1);
  });

  it('close() during an outage is a shutdown: no "serves again" line', async () => {
    const store = new EmitterStore();
    const koa = new Koa();
    koa.keys = KEYS;
    const mw = session({ store, reconnectTimeout: 20 });
    koa.use(mw);
    koa.use(route);
    const printed = await captureConsole(async () => {
      store.disconnect();
      expect((await request(koa.callback()).get('/')).status).to.equal(503);
      await mw.close();
    });
    expect(printed.warnings).to.have.length(1);
    expect(printed.warnings[0]).to.include('session store outage');
  });

  it('app.silent: nothing printed at all', async () => {
    const store = new EmitterStore();
    const { koa, listener } = VERSIONS[2]!.make({ store, reconnectTimeout: 20 });
    koa.silent = true;
    const printed = await captureConsole(async () => {
      store.disconnect();
      expect((await request(listener).get('/')).status).to.equal(503);
      store.reconnect();
      expect((await request(listener).get('/')).status).to.equal(200);
    });
    expect(printed).to.deep.equal({ errors: [], warnings: [] });
  });

  it("Koa's listener stays removable by app.onerror, and listeners('error') still shows it", async () => {
    const store = new EmitterStore();
    const koa = new Koa();
    koa.keys = KEYS;
    koa.use(session({ store, reconnectTimeout: 20 }));
    koa.use(route);
    const listener = koa.callback();
    store.disconnect();
    await captureConsole(async () => {
      expect((await request(listener).get('/')).status).to.equal(503);
    });
    expect(koa.listeners('error')).to.deep.equal([koa.onerror]);
    koa.removeListener('error', koa.onerror);
    expect(koa.listenerCount('error')).to.equal(0);
  });
});
