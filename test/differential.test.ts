/**
 * The same scenarios through koa-generic-session@2.3.1 and this package, on
 * the same Koa (v2) with the same deterministic ids and the same recording
 * store: status, body, Set-Cookie (expiry dates normalized) and store calls
 * and data must be equal. The intended differences are listed at the end,
 * each showing what 2.3.1 does and what this package does instead.
 */
import { expect } from 'chai';
import Koa from 'koa2';
import request from 'supertest';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import ours, { type Session } from '../lib/index.js';
import { RecordingStore } from './support/stores.js';

const require = createRequire(import.meta.url);
const theirs = require('koa-generic-session') as (options?: object) => Koa.Middleware;

type Impl = 'theirs' | 'ours';
type Handler = (ctx: Koa.Context) => unknown;
interface Step {
  path: string;
  cookie?: 'keep' | 'none' | string;
}
interface Observation {
  status: number;
  body: unknown;
  setCookie: string[];
  calls: string[];
}

function normalizeCookie(line: string): string {
  return line.replace(/expires=[^;]+/, (m) =>
    m === 'expires=Thu, 01 Jan 1970 00:00:00 GMT' ? m : 'expires=<date>',
  );
}

async function scenario(
  impl: Impl,
  options: Record<string, unknown>,
  handler: Handler,
  steps: Step[],
  seed: Record<string, string> = {},
): Promise<{ observed: Observation[]; data: Record<string, unknown> }> {
  const store = new RecordingStore();
  for (const [key, json] of Object.entries(seed)) store.data.set(key, json);
  let n = 0;
  const app = new Koa();
  app.keys = ['differential key'];
  app.silent = true;
  const genSid = () => 'sid' + ++n;
  const factory = impl === 'ours' ? ours : theirs;
  app.use(factory({ store, genSid, ...options }) as Koa.Middleware);
  app.use(async (ctx) => {
    const body = await handler(ctx);
    if (ctx.body === undefined) ctx.body = body ?? 'ok';
  });
  let jar = '';
  const observed: Observation[] = [];
  for (const step of steps) {
    store.calls.length = 0;
    const req = request(app.callback()).get(step.path);
    const cookie = step.cookie === undefined || step.cookie === 'keep' ? jar : step.cookie === 'none' ? '' : step.cookie;
    if (cookie) req.set('Cookie', cookie);
    const res = await req;
    const setCookie = ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? []);
    for (const line of setCookie) {
      const pair = line.split(';')[0] as string;
      const name = pair.slice(0, pair.indexOf('='));
      const rest = jar.split('; ').filter((c) => c && !c.startsWith(name + '='));
      if (!/expires=Thu, 01 Jan 1970/.test(line)) rest.push(pair);
      jar = rest.join('; ');
    }
    observed.push({
      status: res.status,
      body: res.type === 'application/json' ? res.body : res.text,
      setCookie: setCookie.map(normalizeCookie),
      calls: store.calls.map((c) => `${c.op} ${c.key}${c.ttl === undefined ? '' : ' ' + c.ttl}`),
    });
  }
  const data: Record<string, unknown> = {};
  for (const [key, json] of store.data) {
    data[key] = JSON.parse(json.replace(/"expires":"[^"]+"/, '"expires":"<date>"'));
  }
  return { observed, data };
}

async function both(options: Record<string, unknown>, handler: Handler, steps: Step[], seed?: Record<string, string>) {
  return {
    theirs: await scenario('theirs', options, handler, steps, seed),
    ours: await scenario('ours', options, handler, steps, seed),
  };
}

/** A signed session cookie for `sid`, as the scenarios' app (key 'differential key') writes it. */
function signedCookie(sid: string, name = 'koa.sid'): string {
  const sig = createHmac('sha1', 'differential key').update(`${name}=${sid}`).digest('base64url');
  return `${name}=${sid}; ${name}.sig=${sig}`;
}

/** Answers with the session object itself, after changing it as the path says. */
const holder: Handler = async (ctx) => {
  switch (ctx.path) {
    case '/assign':
      ctx.session = { foo: 'bar' } as unknown as Session; // as JavaScript apps do: the types ask for cookie
      break;
    case '/assign-with-cookie':
      ctx.session = { foo: 'bar', cookie: { path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 5000 } };
      break;
    case '/set':
      ctx.session!.foo = 'bar';
      break;
    case '/cookie':
      ctx.session!.cookie.maxAge = 5000;
      break;
    case '/regenerate':
      await ctx.regenerateSession();
      ctx.session!.foo = 'baz';
      break;
    case '/null':
      ctx.session = null;
      break;
  }
  ctx.body = ctx.path === '/null' ? 'bye' : ctx.session;
};

/** The same in defer mode: `ctx.body = await ctx.session`. */
const deferHolder: Handler = async (ctx) => {
  switch (ctx.path) {
    case '/assign':
      ctx.session = { foo: 'bar' } as unknown as Session; // as JavaScript apps do: the types ask for cookie
      break;
    case '/set':
      (await ctx.session)!.foo = 'bar';
      break;
    case '/cookie':
      (await ctx.session)!.cookie.maxAge = 5000;
      break;
    case '/regenerate':
      await ctx.regenerateSession();
      (await ctx.session)!.foo = 'baz';
      break;
  }
  ctx.body = await ctx.session;
};

const counter: Handler = (ctx) => {
  if (ctx.path === '/inc') ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
  if (ctx.path === '/logout') ctx.session = null;
  if (ctx.path === '/nosave') {
    ctx.session!.n = 100;
    ctx.sessionSave = false;
  }
  if (ctx.path === '/force') ctx.sessionSave = true;
  return { n: ctx.session?.n ?? null, sid: ctx.sessionId ?? null };
};

const deferCounter: Handler = async (ctx) => {
  if (ctx.path === '/untouched') return 'untouched';
  if (ctx.path === '/logout') {
    ctx.session = null;
    return 'bye';
  }
  const s = await ctx.session;
  if (ctx.path === '/inc') s!.n = ((s!.n as number) ?? 0) + 1;
  return { n: s?.n ?? null, sid: ctx.sessionId ?? null };
};

describe('differential: koa-generic-session@2.3.1 and this package agree', () => {
  const cases: Array<[string, Record<string, unknown>, Handler, Step[]]> = [
    ['an untouched new visitor', {}, counter, [{ path: '/' }, { path: '/' }]],
    ['a counter over several requests', {}, counter, [{ path: '/inc' }, { path: '/inc' }, { path: '/' }]],
    ['logout destroys and clears the cookie', {}, counter, [{ path: '/inc' }, { path: '/logout' }, { path: '/' }]],
    ['sessionSave false and true', {}, counter, [{ path: '/inc' }, { path: '/nosave' }, { path: '/force' }, { path: '/' }]],
    ['allowEmpty stores an untouched session', { allowEmpty: true }, counter, [{ path: '/' }, { path: '/' }]],
    ['rolling rewrites and re-sends the cookie', { rolling: true }, counter, [{ path: '/inc' }, { path: '/' }, { path: '/' }]],
    ['a custom key, prefix and cookie', { key: 'app.sid', prefix: 'p:', cookie: { maxAge: 5000, sameSite: 'lax' } }, counter, [{ path: '/inc' }, { path: '/' }]],
    ['connect-style maxage', { cookie: { maxage: 7000 } }, counter, [{ path: '/inc' }]],
    ['a number ttl', { ttl: 3000 }, counter, [{ path: '/inc' }, { path: '/inc' }]],
    ['a browser-session cookie', { cookie: { maxAge: null } }, counter, [{ path: '/inc' }, { path: '/' }]],
    ['an unknown session id', {}, counter, [{ path: '/inc', cookie: 'koa.sid=nobody; koa.sid.sig=x' }]],
    ['a tampered signature', {}, counter, [{ path: '/inc' }, { path: '/', cookie: 'koa.sid=sid1; koa.sid.sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA' }]],
    ['unsigned cookies', { cookie: { signed: false } }, counter, [{ path: '/inc' }, { path: '/inc' }]],
    ['valid() refusing a session', { valid: (ctx: Koa.Context) => ctx.query.ok !== 'no' }, counter, [{ path: '/inc' }, { path: '/inc?ok=no' }]],
    ['defer: read, change and untouched routes', { defer: true }, deferCounter, [{ path: '/inc' }, { path: '/' }, { path: '/untouched' }, { path: '/inc' }]],
    ['defer: logout after reading', { defer: true }, deferCounter, [{ path: '/inc' }, { path: '/logout' }, { path: '/' }]],
    ['cookie.secureProxy (deprecated in cookies, passed on to it) sets Secure over http', { cookie: { secureProxy: true } }, counter, [{ path: '/inc' }, { path: '/inc' }]],
    ['a cookie name with a colon, as koa-generic-session\'s own tests use', { key: 'koss:test_sid' }, counter, [{ path: '/inc' }, { path: '/inc' }, { path: '/logout' }]],
    ['ctx.body = ctx.session: a new session shows its cookie options, a loaded one those stored', {}, holder, [{ path: '/set' }, { path: '/' }]],
    ['ctx.body = ctx.session: the app changes a loaded session\'s cookie', {}, holder, [{ path: '/set' }, { path: '/cookie' }, { path: '/' }]],
    ['ctx.body = ctx.session: an assigned object with its own cookie options is stored and answered as it is', {}, holder, [{ path: '/assign-with-cookie' }, { path: '/' }]],
    ['ctx.body = ctx.session: regenerate gives a new session with its cookie options', {}, holder, [{ path: '/set' }, { path: '/regenerate' }, { path: '/' }]],
    ['ctx.body = ctx.session: logout, then a new session', {}, holder, [{ path: '/set' }, { path: '/null' }, { path: '/' }]],
    ['defer, ctx.body = await ctx.session: new, loaded and changed cookie', { defer: true }, deferHolder, [{ path: '/set' }, { path: '/' }, { path: '/cookie' }, { path: '/' }]],
    ['defer, ctx.body = await ctx.session: regenerate', { defer: true }, deferHolder, [{ path: '/set' }, { path: '/regenerate' }, { path: '/' }]],
  ];

  for (const [title, options, handler, steps] of cases) {
    it(title, async () => {
      const { theirs: t, ours: o } = await both(options, handler, steps);
      expect(o.observed).to.deep.equal(t.observed);
      expect(o.data).to.deep.equal(t.data);
    });
  }

  it('a session stored without cookie options (another library wrote it): answered as stored, nothing written while unchanged', async () => {
    const seed = { 'koa:sess:seeded': '{"user":"alice"}' };
    const steps = [{ path: '/', cookie: signedCookie('seeded') }, { path: '/', cookie: signedCookie('seeded') }];
    const { theirs: t, ours: o } = await both({}, holder, steps, seed);
    expect(o.observed).to.deep.equal(t.observed);
    expect(o.data).to.deep.equal(t.data);
    expect(o.observed[0]!.body).to.deep.equal({ user: 'alice' });
  });

  it('errorHandler receives get and set errors with the same type names', async () => {
    const seen: Record<Impl, string[]> = { theirs: [], ours: [] };
    for (const impl of ['theirs', 'ours'] as const) {
      const store = new RecordingStore();
      const app = new Koa();
      app.keys = ['k'];
      app.use((impl === 'ours' ? ours : theirs)({ store, errorHandler: (e: unknown, type: string) => void seen[impl].push(type + ':' + (e as Error).message) }) as Koa.Middleware);
      app.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = 'ok';
      });
      const agent = request.agent(app.callback());
      await agent.get('/');
      store.fail.get = new Error('g');
      store.fail.set = new Error('s');
      await agent.get('/');
    }
    expect(seen.ours).to.deep.equal(seen.theirs);
    expect(seen.ours).to.deep.equal(['get:g', 'set:s']);
  });

  it('ttl: 0 (and a ttl function returning 0): both fall back to cookie.maxAge', async () => {
    for (const ttl of [0, () => 0]) {
      const steps = [{ path: '/inc' }, { path: '/inc' }];
      const t = await scenario('theirs', { ttl }, counter, steps);
      const o = await scenario('ours', { ttl }, counter, steps);
      expect(t.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1 86400000']);
      expect(o.observed).to.deep.equal(t.observed);
      expect(o.data).to.deep.equal(t.data);
    }
  });
});

describe('differential: intended differences from koa-generic-session@2.3.1', () => {
  // 2.3.1 saves such an object as it is: no cookie options in the store, no ttl, and
  // cookies.set(key, sid, undefined), which writes an unsigned browser-session cookie
  // that the next request's signed read refuses: the session is lost at once.
  it('ctx.session = { foo: "bar" }: the same body; 2.3.1 loses the session, this package stores the configured cookie options beside it', async () => {
    const steps = [{ path: '/assign' }, { path: '/' }];
    const t = await scenario('theirs', {}, holder, steps);
    const o = await scenario('ours', {}, holder, steps);
    expect(o.observed[0]!.status).to.equal(t.observed[0]!.status);
    expect(o.observed[0]!.body).to.deep.equal(t.observed[0]!.body);
    expect(o.observed[0]!.body).to.deep.equal({ foo: 'bar' });

    expect(t.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1']);
    expect(t.observed[0]!.setCookie).to.deep.equal(['koa.sid=sid1; path=/; httponly']);
    expect(t.data['koa:sess:sid1']).to.deep.equal({ foo: 'bar' });
    expect(t.observed[1]!.body).to.not.have.property('foo');

    const configured = { path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 86_400_000 };
    expect(o.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1 86400000']);
    expect(o.observed[0]!.setCookie).to.deep.equal([
      'koa.sid=sid1; path=/; expires=<date>; httponly',
      `${signedCookie('sid1').split('; ')[1]}; path=/; expires=<date>; httponly`,
    ]);
    expect(o.data['koa:sess:sid1']).to.deep.equal({ foo: 'bar', cookie: configured });
    // loaded from the store, it has the cookie options the store holds, as every loaded session
    expect(o.observed[1]!.body).to.deep.equal({ foo: 'bar', cookie: configured });
  });

  it('ctx.session = { foo: "bar" } over a loaded session: the same body; 2.3.1 drops its cookie options, this package keeps the configured ones', async () => {
    const steps = [{ path: '/set' }, { path: '/assign' }];
    const t = await scenario('theirs', {}, holder, steps);
    const o = await scenario('ours', {}, holder, steps);
    expect(o.observed[1]!.body).to.deep.equal(t.observed[1]!.body);
    expect(o.observed[1]!.body).to.deep.equal({ foo: 'bar' });
    expect(t.data['koa:sess:sid1']).to.deep.equal({ foo: 'bar' });
    expect(o.data['koa:sess:sid1']).to.deep.equal({ foo: 'bar', cookie: { path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 86_400_000 } });
  });

  it('defer, ctx.session = { foo: "bar" } on a first visit: the same body; 2.3.1 stores koa:sess:undefined and clears the cookie, this package stores a session', async () => {
    const t = await scenario('theirs', { defer: true }, deferHolder, [{ path: '/assign' }]);
    const o = await scenario('ours', { defer: true }, deferHolder, [{ path: '/assign' }]);
    expect(o.observed[0]!.body).to.deep.equal(t.observed[0]!.body);
    expect(o.observed[0]!.body).to.deep.equal({ foo: 'bar' });
    expect(t.observed[0]!.calls).to.deep.equal(['set koa:sess:undefined']);
    expect(t.observed[0]!.setCookie).to.deep.equal(['koa.sid=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly']);
    expect(o.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1 86400000']);
    expect(Object.keys(o.data)).to.deep.equal(['koa:sess:sid1']);
  });

  it('a session stored without cookie options, changed: the same body; 2.3.1 writes it back without them, this package adds the configured ones to what it stores', async () => {
    const seed = { 'koa:sess:seeded': '{"user":"alice"}' };
    const steps = [{ path: '/set', cookie: signedCookie('seeded') }];
    const t = await scenario('theirs', {}, holder, steps, seed);
    const o = await scenario('ours', {}, holder, steps, seed);
    expect(o.observed[0]!.body).to.deep.equal(t.observed[0]!.body);
    expect(o.observed[0]!.body).to.deep.equal({ user: 'alice', foo: 'bar' });
    expect(t.data['koa:sess:seeded']).to.deep.equal({ user: 'alice', foo: 'bar' });
    expect(o.data['koa:sess:seeded']).to.deep.equal({
      user: 'alice',
      foo: 'bar',
      cookie: { path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 86_400_000 },
    });
    expect(t.observed[0]!.setCookie).to.deep.equal(['koa.sid=seeded; path=/; httponly']);
    expect(o.observed[0]!.calls).to.deep.equal(['get koa:sess:seeded', 'set koa:sess:seeded 86400000']);
  });

  it('regenerateSession() then the same data again (a re-login): 2.3.1 compares with the old session and drops the save, this package saves', async () => {
    const login: Handler = async (ctx) => {
      if (ctx.path === '/login') {
        await ctx.regenerateSession();
        ctx.session!.user = 'ann';
      }
      return { user: ctx.session!.user ?? null, sid: ctx.sessionId };
    };
    const steps = [{ path: '/' }, { path: '/login' }, { path: '/login' }, { path: '/' }];
    const t = await scenario('theirs', {}, login, steps);
    const o = await scenario('ours', {}, login, steps);
    expect(o.observed.slice(0, 2)).to.deep.equal(t.observed.slice(0, 2));
    expect(t.observed[2]!.calls).to.deep.equal(['get koa:sess:sid3', 'destroy koa:sess:sid3']);
    expect(t.observed[3]!.body).to.deep.equal({ user: null, sid: 'sid5' });
    expect(o.observed[2]!.calls).to.deep.equal(['get koa:sess:sid3', 'destroy koa:sess:sid3', 'set koa:sess:sid4 86400000']);
    expect(o.observed[3]!.body).to.deep.equal({ user: 'ann', sid: 'sid4' });
  });

  it('a generator store: 2.3.1 stores nothing, this package stores the session', async () => {
    const make = () => {
      const m = new Map<string, string>();
      return {
        m,
        store: {
          *get(k: string) {
            return m.has(k) ? JSON.parse(m.get(k) as string) : null;
          },
          *set(k: string, v: unknown) {
            m.set(k, JSON.stringify(v));
          },
          *destroy(k: string) {
            m.delete(k);
          },
        },
      };
    };
    const t = make();
    await scenario('theirs', { store: t.store }, counter, [{ path: '/inc' }]);
    const o = make();
    await scenario('ours', { store: o.store }, counter, [{ path: '/inc' }]);
    expect(t.m.size).to.equal(0);
    expect(o.m.size).to.equal(1);
  });

  it('a thunk store: 2.3.1 answers 500, this package works', async () => {
    const thunkStore = () => {
      const m = new Map<string, unknown>();
      return {
        get: (k: string) => (cb: (e: unknown, v?: unknown) => void) => cb(null, m.get(k)),
        set: (k: string, v: unknown) => (cb: (e: unknown, v?: unknown) => void) => cb(null, void m.set(k, v)),
        destroy: (k: string) => (cb: (e: unknown, v?: unknown) => void) => cb(null, void m.delete(k)),
      };
    };
    const steps = [{ path: '/inc' }, { path: '/inc' }];
    const t = await scenario('theirs', { store: thunkStore() }, counter, steps);
    const o = await scenario('ours', { store: thunkStore() }, counter, steps);
    expect(t.observed[1]!.status).to.equal(500);
    expect(o.observed.map((x) => x.body)).to.deep.equal([{ n: 1, sid: 'sid1' }, { n: 2, sid: 'sid1' }]);
  });

  it('defer mode when downstream throws: 2.3.1 drops the change, this package saves it', async () => {
    const throwing: Handler = async (ctx) => {
      (await ctx.session)!.n = 1;
      throw new Error('boom');
    };
    const t = await scenario('theirs', { defer: true }, throwing, [{ path: '/' }]);
    const o = await scenario('ours', { defer: true }, throwing, [{ path: '/' }]);
    expect(t.observed[0]!.calls).to.deep.equal([]);
    expect(o.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1 86400000']);
    expect(o.observed[0]!.status).to.equal(t.observed[0]!.status);
  });

  it('defer mode, ctx.session = null without a cookie: 2.3.1 destroys koa:sess:undefined, this package nothing', async () => {
    const t = await scenario('theirs', { defer: true }, deferCounter, [{ path: '/logout' }]);
    const o = await scenario('ours', { defer: true }, deferCounter, [{ path: '/logout' }]);
    expect(t.observed[0]!.calls).to.deep.equal(['destroy koa:sess:undefined']);
    expect(o.observed[0]!.calls.filter((c) => c.startsWith('destroy'))).to.deep.equal([]);
  });

  it('saveSession(): 2.3.1 reloads the session from the store first, this package only saves', async () => {
    const saving: Handler = async (ctx) => {
      ctx.session!.n = 1;
      await ctx.saveSession();
      return 'saved';
    };
    const steps = [{ path: '/' }, { path: '/' }];
    const t = await scenario('theirs', {}, saving, steps);
    const o = await scenario('ours', {}, saving, steps);
    // 2.3.1 reads the store twice per saveSession(), and on a new session that read misses, so the id changes
    expect(t.observed[1]!.calls.filter((c) => c.startsWith('get'))).to.have.length(2);
    expect(o.observed[1]!.calls).to.deep.equal(['get koa:sess:sid1']);
    expect(o.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1 86400000']);
  });

  it('cookie.path /api: 2.3.1 gives /apix a session, this package matches path segments', async () => {
    const has: Handler = (ctx) => ({ has: ctx.session !== undefined });
    const t = await scenario('theirs', { cookie: { path: '/api' } }, has, [{ path: '/apix' }]);
    const o = await scenario('ours', { cookie: { path: '/api' } }, has, [{ path: '/apix' }]);
    expect(t.observed[0]!.body).to.deep.equal({ has: true });
    expect(o.observed[0]!.body).to.deep.equal({ has: false });
  });

  it('MemoryStore: 2.3.1 keeps changes made under sessionSave = false, this package does not', async () => {
    const run = async (impl: Impl) => {
      const app = new Koa();
      app.keys = ['k'];
      const factory = impl === 'ours' ? ours : theirs;
      app.use(factory() as Koa.Middleware);
      app.use((ctx) => {
        if (ctx.path === '/nosave') {
          ctx.session!.n = 100;
          ctx.sessionSave = false;
        } else if (ctx.path === '/inc') ctx.session!.n = 1;
        ctx.body = { n: ctx.session!.n };
      });
      const agent = request.agent(app.callback());
      await agent.get('/inc');
      await agent.get('/nosave');
      return (await agent.get('/')).body.n;
    };
    expect(await run('theirs')).to.equal(100);
    expect(await run('ours')).to.equal(1);
  });

  it('default session ids: 2.3.1 has 32 characters (uid-safe), this package 24 (uid2)', async () => {
    const sid = async (impl: Impl) => {
      const app = new Koa();
      app.keys = ['k'];
      app.use((impl === 'ours' ? ours : theirs)() as Koa.Middleware);
      app.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = ctx.sessionId;
      });
      return (await request(app.callback()).get('/')).text;
    };
    expect(await sid('theirs')).to.match(/^[A-Za-z0-9_-]{32}$/);
    expect(await sid('ours')).to.match(/^[A-Za-z0-9_-]{24}$/);
  });

  it('options: 2.3.1 takes defer: "false" as true, this package throws a TypeError naming the option', () => {
    expect(() => theirs({ defer: 'false' })).to.not.throw();
    expect(() => ours({ defer: 'false' } as never)).to.throw(TypeError, /option "defer" must be a boolean, got the string "false"/);
  });

  it('a stored cookie with a __proto__ key: 2.3.1 answers 500 for that user, this package serves them', async () => {
    const poisoned = () => {
      const store = new RecordingStore();
      store.data.set('koa:sess:sid1', '{"cookie":{"__proto__":{"x":1},"maxAge":1000},"n":5}');
      return store;
    };
    const cookieFor = async () => {
      const app = new Koa();
      app.keys = ['differential key'];
      app.use(ours({ store: new RecordingStore(), genSid: () => 'sid1' }));
      app.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = 'ok';
      });
      const res = await request(app.callback()).get('/');
      return (res.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    };
    const cookie = await cookieFor();
    const statusOf = async (impl: Impl) => {
      const app = new Koa();
      app.keys = ['differential key'];
      app.silent = true;
      app.use((impl === 'ours' ? ours : theirs)({ store: poisoned() }) as Koa.Middleware);
      app.use((ctx) => {
        ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
        ctx.body = 'ok';
      });
      return (await request(app.callback()).get('/').set('Cookie', cookie)).status;
    };
    expect(await statusOf('theirs')).to.equal(500);
    expect(await statusOf('ours')).to.equal(200);
  });

  it('a store that disconnected and did not come back: 2.3.1 answers 500, this package 503 "Service Unavailable" (same message)', async () => {
    const outage = async (impl: Impl) => {
      const store = new RecordingStore();
      const app = new Koa();
      app.keys = ['k'];
      app.silent = true;
      const errors: Error[] = [];
      app.on('error', (err: Error) => errors.push(err));
      app.use((impl === 'ours' ? ours : theirs)({ store, reconnectTimeout: 10 }) as Koa.Middleware);
      app.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = 'ok';
      });
      store.emit('disconnect');
      const res = await request(app.callback()).get('/');
      return { status: res.status, body: res.text, message: errors[0]?.message };
    };
    const t = await outage('theirs');
    const o = await outage('ours');
    expect(t).to.deep.equal({ status: 500, body: 'Internal Server Error', message: 'session store is unavailable' });
    expect(o).to.deep.equal({ status: 503, body: 'Service Unavailable', message: 'session store is unavailable' });
  });

  it('no app.keys: 2.3.1 writes the session and then fails on the cookie (an orphan per request), this package writes nothing', async () => {
    const run = async (impl: Impl) => {
      const store = new RecordingStore();
      const app = new Koa();
      app.silent = true;
      app.use((impl === 'ours' ? ours : theirs)({ store }) as Koa.Middleware);
      app.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = 'ok';
      });
      const res = await request(app.callback()).get('/');
      return { status: res.status, calls: store.ops() };
    };
    expect(await run('theirs')).to.deep.equal({ status: 500, calls: ['set'] });
    expect(await run('ours')).to.deep.equal({ status: 500, calls: [] });
  });
});
