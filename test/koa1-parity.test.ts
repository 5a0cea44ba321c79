/**
 * The same koa v1 app, written as koa v1 apps are (`function*`, `this`,
 * `yield this.session`), once with koa-generic-session 1.x and once with this
 * package, with the same deterministic (synchronous) genSid and the same
 * recording store: status, body, Set-Cookie (expiry dates normalized), store
 * calls and stored data must be equal. The deliberate differences follow,
 * each showing what 1.x does and what this package does instead; the README
 * lists them.
 */
import { expect } from 'chai';
import koa1 from 'koa1';
import request from 'supertest';
import session1 from 'koa-generic-session-1';
import ours from '../lib/index.js';
import { RecordingStore } from './support/stores.js';
import { warningsDuring } from './support/warnings.js';

type Impl = 'theirs' | 'ours';
/** A koa v1 handler: `this` is the context; `load` gives the session as the mode wants it. */
type Handler = (this: any, load: () => Generator<unknown, any, any>) => Generator<unknown, unknown, any>;
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

const factories: Record<Impl, (options: Record<string, unknown>) => (this: any, next: Generator) => Generator> = {
  theirs: (options) => session1(options),
  ours: (options) => ours(options as never) as never,
};

function normalizeCookie(line: string): string {
  return line.replace(/expires=[^;]+/, (m) => (m === 'expires=Thu, 01 Jan 1970 00:00:00 GMT' ? m : 'expires=<date>'));
}

async function scenario(
  impl: Impl,
  options: Record<string, unknown>,
  handler: Handler,
  steps: Step[],
  store = new RecordingStore(),
): Promise<{ observed: Observation[]; data: Record<string, unknown> }> {
  let n = 0;
  const defer = options.defer === true;
  const app = koa1();
  app.keys = ['parity key'];
  app.silent = true;
  app.use(function* (this: any, next: Generator) {
    try {
      yield next;
    } catch (err) {
      this.status = 500;
      this.type = 'text';
      this.body = `${(err as Error).name}: ${(err as Error).message}`;
    }
  });
  // koa-generic-session 1.x calls genSid synchronously: a plain function returning a string
  app.use(factories[impl]({ store, genSid: () => 'sid' + ++n, ...options }));
  app.use(function* (this: any): Generator<unknown, void, any> {
    const ctx = this;
    const load = function* (): Generator<unknown, any, any> {
      return defer ? yield ctx.session : ctx.session;
    };
    const body = yield* handler.call(ctx, load);
    if (this.body === undefined) this.body = body ?? 'ok';
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
  for (const [key, json] of store.data) data[key] = JSON.parse(json);
  return { observed, data };
}

async function both(options: Record<string, unknown>, handler: Handler, steps: Step[]) {
  return {
    theirs: await scenario('theirs', options, handler, steps),
    ours: await scenario('ours', options, handler, steps),
  };
}

/** The 1.x README's example app, plus sessionSave and a thrown error. */
const counter: Handler = function* (load) {
  switch (this.path) {
    case '/inc': {
      const s = yield* load();
      s.n = (s.n ?? 0) + 1;
      break;
    }
    case '/logout':
      this.session = null;
      return 'bye';
    case '/regenerate': {
      (yield* load()).n = 1;
      yield this.regenerateSession();
      (yield* load()).n = 2;
      break;
    }
    case '/nosave': {
      (yield* load()).n = 100;
      this.sessionSave = false;
      break;
    }
    case '/force':
      yield* load();
      this.sessionSave = true;
      break;
    case '/cookie': {
      const s = yield* load();
      s.cookie.maxAge = 5000;
      s.n = 'short';
      break;
    }
    case '/throw': {
      (yield* load()).n = 'thrown';
      throw new Error('boom');
    }
    case '/untouched':
      return 'untouched';
  }
  const s = yield* load();
  return { n: s?.n ?? null, sid: this.sessionId ?? null };
};

describe('koa v1 parity: koa-generic-session 1.x and this package agree', () => {
  const cases: Array<[string, Record<string, unknown>, Step[]]> = [
    ['an untouched new visitor', {}, [{ path: '/' }, { path: '/' }]],
    ['a counter over several requests', {}, [{ path: '/inc' }, { path: '/inc' }, { path: '/' }]],
    ['yield this.regenerateSession()', {}, [{ path: '/inc' }, { path: '/regenerate' }, { path: '/' }]],
    ['sessionSave true on a new session', {}, [{ path: '/force' }, { path: '/' }]],
    ['a changed cookie.maxAge', {}, [{ path: '/cookie' }, { path: '/' }]],
    ['an error thrown downstream in eager mode still saves', {}, [{ path: '/throw' }, { path: '/' }]],
    ['allowEmpty stores an untouched session', { allowEmpty: true }, [{ path: '/' }, { path: '/' }]],
    ['rolling rewrites and re-sends the cookie', { rolling: true }, [{ path: '/inc' }, { path: '/' }, { path: '/' }]],
    ['a custom key, prefix and cookie', { key: 'app.sid', prefix: 'p:', cookie: { maxAge: 5000, sameSite: 'lax' } }, [{ path: '/inc' }, { path: '/' }]],
    ['connect-style maxage', { cookie: { maxage: 7000 } }, [{ path: '/inc' }]],
    ['a number ttl', { ttl: 3000 }, [{ path: '/inc' }, { path: '/inc' }]],
    ['a browser-session cookie', { cookie: { maxAge: null } }, [{ path: '/inc' }, { path: '/' }]],
    ['an unknown session id', {}, [{ path: '/inc', cookie: 'koa.sid=nobody; koa.sid.sig=x' }]],
    ['unsigned cookies', { cookie: { signed: false } }, [{ path: '/inc' }, { path: '/inc' }]],
    ['valid() refusing a session', { valid: (ctx: any) => ctx.query.ok !== 'no' }, [{ path: '/inc' }, { path: '/inc?ok=no' }]],
    ['beforeSave() changing what is stored', { beforeSave: (_ctx: unknown, s: Record<string, unknown>) => void (s.savedBy = 'hook') }, [{ path: '/inc' }, { path: '/' }]],
    ['cookie.path /api on /api and /', { cookie: { path: '/api' } }, [{ path: '/api/inc' }, { path: '/' }]],
    ['defer: yield this.session, change and untouched routes', { defer: true }, [{ path: '/inc' }, { path: '/' }, { path: '/untouched' }, { path: '/inc' }]],
    ['defer: yield this.regenerateSession()', { defer: true }, [{ path: '/inc' }, { path: '/regenerate' }, { path: '/' }]],
    ['defer: sessionSave true', { defer: true }, [{ path: '/force' }, { path: '/' }]],
  ];

  for (const [title, options, steps] of cases) {
    it(title, async () => {
      const { theirs: t, ours: o } = await both(options, counter, steps);
      expect(o.observed).to.deep.equal(t.observed);
      expect(o.data).to.deep.equal(t.data);
    });
  }

  /** `this.body = this.session` (or `yield this.session` in defer mode), after changing it as the path says. */
  const holder: Handler = function* (load) {
    if (this.path === '/assign') this.session = { foo: 'bar' };
    if (this.path === '/assign-with-cookie') {
      this.session = { foo: 'bar', cookie: { path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 5000 } };
    }
    if (this.path === '/set') (yield* load()).foo = 'bar';
    this.body = yield* load();
  };
  const holderCases: Array<[string, Record<string, unknown>, Step[]]> = [
    ['this.body = this.session: a new session shows its cookie options, a loaded one those stored', {}, [{ path: '/set' }, { path: '/' }]],
    ['this.body = this.session: an assigned object with its own cookie options', {}, [{ path: '/assign-with-cookie' }, { path: '/' }]],
    ['defer, this.body = yield this.session: new and loaded', { defer: true }, [{ path: '/set' }, { path: '/' }]],
  ];
  for (const [title, options, steps] of holderCases) {
    it(title, async () => {
      const t = await scenario('theirs', options, holder, steps);
      const o = await scenario('ours', options, holder, steps);
      expect(o.observed).to.deep.equal(t.observed);
      expect(o.data).to.deep.equal(t.data);
    });
  }

  it('this.session = { foo: "bar" }: the body is the object as assigned, nothing added (cookie and store differ: see the differential suite)', async () => {
    for (const options of [{}, { defer: true }]) {
      const t = await scenario('theirs', options, holder, [{ path: '/assign' }]);
      const o = await scenario('ours', options, holder, [{ path: '/assign' }]);
      expect(o.observed[0]!.body).to.deep.equal(t.observed[0]!.body);
      expect(o.observed[0]!.body).to.deep.equal({ foo: 'bar' });
    }
  });

  it('errorHandler(err, type, ctx) receives get and set errors with the koa v1 context', async () => {
    const seen: Record<Impl, string[]> = { theirs: [], ours: [] };
    for (const impl of ['theirs', 'ours'] as const) {
      const store = new RecordingStore();
      const errorHandler = (err: Error, type: string, ctx: any) => seen[impl].push(`${type}:${err.message}:${ctx.path}`);
      await scenario(impl, { errorHandler }, counter, [{ path: '/inc' }], store);
      store.fail.get = new Error('g');
      store.fail.set = new Error('s');
      await scenario(impl, { errorHandler }, counter, [{ path: '/inc', cookie: 'koa.sid=sid1' }], store);
    }
    expect(seen.ours).to.deep.equal(seen.theirs);
  });

  it('the default errorHandler names the error after its type and rethrows it', async () => {
    const failing = (which: 'get' | 'set') => {
      const store = new RecordingStore();
      store.data.set('koa:sess:sid1', '{"cookie":{},"n":1}');
      store.fail[which] = new Error(`${which} failed`);
      return store;
    };
    for (const which of ['get', 'set'] as const) {
      const bodies = await Promise.all(
        (['theirs', 'ours'] as const).map(async (impl) =>
          (await scenario(impl, { cookie: { signed: false } }, counter, [{ path: '/inc', cookie: 'koa.sid=sid1' }], failing(which))).observed,
        ),
      );
      expect(bodies[1]).to.deep.equal(bodies[0]);
      expect(bodies[1]![0]!.body).to.equal(`koa-generic-session ${which} error: ${which} failed`);
    }
  });
});

describe('koa v1 parity: deliberate differences from koa-generic-session 1.x', () => {
  it('cookie.path /api: 1.x gives /apix a session, this package matches whole path segments', async () => {
    const has: Handler = function* () {
      return { has: this.session !== undefined };
    };
    const t = await scenario('theirs', { cookie: { path: '/api' } }, has, [{ path: '/apix' }]);
    const o = await scenario('ours', { cookie: { path: '/api' } }, has, [{ path: '/apix' }]);
    expect(t.observed[0]!.body).to.deep.equal({ has: true });
    expect(o.observed[0]!.body).to.deep.equal({ has: false });
  });

  for (const defer of [false, true]) {
    it(`this.session = null${defer ? ' (defer)' : ''}: the same destroy, but 1.x leaves koa.sid.sig, this package clears it too`, async () => {
      const steps = [{ path: '/inc' }, { path: '/' }, { path: '/logout' }, { path: '/' }];
      const { theirs: t, ours: o } = await both({ defer }, counter, steps);
      const withoutSig = o.observed.map((x) => ({ ...x, setCookie: x.setCookie.filter((c) => !(c.startsWith('koa.sid.sig=') && c.includes('expires=Thu, 01 Jan 1970'))) }));
      expect(withoutSig).to.deep.equal(t.observed);
      expect(o.data).to.deep.equal(t.data);
      expect(t.observed[2]!.setCookie).to.deep.equal(['koa.sid=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly']);
      expect(o.observed[2]!.setCookie).to.have.length(2);
      expect(o.observed[2]!.setCookie[1]).to.match(/^koa\.sid\.sig=[^;]*; path=\/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly$/);
    });
  }

  it('defer mode, an error thrown downstream: 1.x drops the change, this package saves it (as eager mode always did)', async () => {
    const t = await scenario('theirs', { defer: true }, counter, [{ path: '/throw' }]);
    const o = await scenario('ours', { defer: true }, counter, [{ path: '/throw' }]);
    expect(o.observed[0]!.status).to.equal(t.observed[0]!.status);
    expect(t.observed[0]!.calls).to.deep.equal([]);
    expect(o.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1 86400000']);
  });

  it('defer mode, this.session = null without a cookie: 1.x destroys koa:sess:undefined, this package does nothing', async () => {
    const t = await scenario('theirs', { defer: true }, counter, [{ path: '/logout' }]);
    const o = await scenario('ours', { defer: true }, counter, [{ path: '/logout' }]);
    expect(t.observed[0]!.calls).to.deep.equal(['destroy koa:sess:undefined']);
    expect(o.observed[0]!.calls.filter((c) => c.startsWith('destroy'))).to.deep.equal([]);
  });

  it('defer mode, this.session = {...} without reading it or a cookie: 1.x stores koa:sess:undefined, this package a new id', async () => {
    const assign: Handler = function* () {
      this.session = { cookie: { maxAge: 1000 }, n: 'assigned' };
      return 'ok';
    };
    const t = await scenario('theirs', { defer: true }, assign, [{ path: '/' }]);
    const o = await scenario('ours', { defer: true }, assign, [{ path: '/' }]);
    expect(t.observed[0]!.calls).to.deep.equal(['set koa:sess:undefined 1000']);
    expect(o.observed[0]!.calls).to.deep.equal(['set koa:sess:sid1 1000']);
  });

  it('a store destroy error: 1.x throws it as it is, this package passes it to errorHandler as type "destroy"', async () => {
    const run = async (impl: Impl, options: Record<string, unknown>) => {
      const store = new RecordingStore();
      await scenario(impl, {}, counter, [{ path: '/inc' }], store);
      store.fail.destroy = new Error('destroy failed');
      const cookie = 'koa.sid=sid1; koa.sid.sig=' + (await signature('sid1'));
      const { observed } = await scenario(impl, options, counter, [{ path: '/logout', cookie }], store);
      return observed[0]!.body;
    };
    const types: string[] = [];
    const errorHandler = (err: Error, type: string) => {
      types.push(type);
      throw err;
    };
    expect(await run('theirs', { errorHandler })).to.equal('Error: destroy failed');
    expect(types).to.deep.equal([]);
    expect(await run('ours', { errorHandler })).to.equal('Error: destroy failed');
    expect(types).to.deep.equal(['destroy']);
    // the default handler names it like get and set errors
    expect(await run('theirs', {})).to.equal('Error: destroy failed');
    expect(await run('ours', {})).to.equal('koa-generic-session destroy error: destroy failed');
  });

  it('default session ids: 1.x has 32 characters (uid-safe, whatever its README says), this package 24 (uid2)', async () => {
    const sid = async (impl: Impl) => {
      const app = koa1();
      app.keys = ['k'];
      app.use(impl === 'ours' ? (ours() as never) : session1());
      app.use(function* (this: any) {
        this.session.n = 1;
        this.body = this.sessionId;
      });
      return (await request(app.callback()).get('/')).text;
    };
    expect(await sid('theirs')).to.match(/^[A-Za-z0-9_-]{32}$/);
    expect(await sid('ours')).to.match(/^[A-Za-z0-9_-]{24}$/);
  });

  it('context internals: 1.x exposes this._session and this._sessionSave, this package keeps its state private', async () => {
    const peek: Handler = function* (load) {
      (yield* load()).n = 1;
      return { _session: typeof this._session, _sessionSave: this._sessionSave === undefined ? 'absent' : this._sessionSave };
    };
    const t = await scenario('theirs', {}, peek, [{ path: '/' }]);
    const o = await scenario('ours', {}, peek, [{ path: '/' }]);
    expect(t.observed[0]!.body).to.deep.equal({ _session: 'object', _sessionSave: null });
    expect(o.observed[0]!.body).to.deep.equal({ _session: 'undefined', _sessionSave: 'absent' });
  });

  it('options: 1.x ignores unknown and mistyped options; this package ignores unknown ones with a warning, and throws a TypeError naming a mistyped one', async () => {
    expect(() => session1({ defer: 'false', cokie: {} })).to.not.throw();
    const warnings = await warningsDuring(() => ours({ cokie: {} } as never));
    expect(warnings.map((w) => w.message)).to.deep.equal(['session(): unknown option "cokie" is ignored; did you mean "cookie"?']);
    expect(() => ours({ defer: 'false' } as never)).to.throw(TypeError, /option "defer" must be a boolean/);
  });
});

/** The koa.sid.sig value `cookies` writes for a koa.sid value under the parity key. */
async function signature(sid: string): Promise<string> {
  const app = koa1();
  app.keys = ['parity key'];
  app.use(function* (this: any) {
    this.cookies.set('koa.sid', sid, { signed: true });
    this.body = 'ok';
  });
  const res = await request(app.callback()).get('/');
  const line = ([] as string[]).concat(res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('koa.sid.sig='));
  return (line as string).split(';')[0]!.slice('koa.sid.sig='.length);
}
