// The Koa version matrix: koa@1, koa@2 and koa@3 apps, each written the way
// apps of that version are (koa v1 generators with `this`, koa v2 async
// functions mixed with legacy generators through koa-convert, koa v3 async
// functions), all using the same `session(options)` import. Plus the session
// behaviour suite that runs unchanged against every one of them.
import type { RequestListener } from 'node:http';
import { expect } from 'chai';
import request from 'supertest';
import koa1 from 'koa1';
import Koa2 from 'koa2';
import Koa3 from 'koa';
import convert from 'koa-convert';
import session from '../../lib/index.js';
import { session as koa1Session } from '../../compat/index.js';
import type { Session, SessionOptions, SessionStore } from '../../lib/index.js';
import { cookieValue, setCookies } from './app.js';

const KEYS = ['test key one', 'test key two'];

/* ---- the app, in the two styles ---- */

type Body = Record<string, unknown>;

/**
 * The routes, written as a koa v1 app writes them: a generator with the
 * context as `this`. In defer mode the session is `yield this.session`; in
 * eager mode it is `this.session` (co would copy a yielded plain object).
 */
function generatorRoutes(defer: boolean) {
  return function* routes(this: any): Generator<unknown, void, any> {
    const load = function* (ctx: any): Generator<unknown, any, any> {
      return defer ? yield ctx.session : ctx.session;
    };
    switch (this.path) {
      case '/count': {
        const s = yield* load(this);
        s.count = (s.count ?? 0) + 1;
        this.body = { count: s.count, sid: this.sessionId };
        return;
      }
      case '/peek': {
        const s = yield* load(this);
        this.body = { count: s.count ?? null, sid: this.sessionId, save: this.sessionSave };
        return;
      }
      case '/destroy':
        this.session = null;
        this.body = { destroyed: true };
        return;
      case '/regenerate': {
        yield* load(this);
        const before = this.sessionId;
        yield this.regenerateSession();
        const s = yield* load(this);
        s.count = 100;
        this.body = { before, after: this.sessionId };
        return;
      }
      case '/unsaved': {
        const s = yield* load(this);
        s.count = 999;
        this.sessionSave = false;
        this.body = { count: s.count };
        return;
      }
      case '/forced':
        yield* load(this);
        this.sessionSave = true;
        this.body = { sid: this.sessionId };
        return;
      case '/save-now': {
        const s = yield* load(this);
        s.count = 'saved early';
        yield this.saveSession();
        // what the store holds before this response is even sent
        this.body = { stored: yield this.sessionStore.get(this.sessionId) };
        return;
      }
      case '/store':
        this.body = { stored: yield this.sessionStore.get(this.query.sid) };
        return;
      default:
        this.status = 404;
    }
  };
}

/** The same routes in koa v2/v3 style: `ctx` and `await` (`await ctx.session` works in both modes). */
function asyncRoutes() {
  return async function routes(ctx: any): Promise<void> {
    switch (ctx.path) {
      case '/count': {
        const s = await ctx.session;
        s.count = (s.count ?? 0) + 1;
        ctx.body = { count: s.count, sid: ctx.sessionId };
        return;
      }
      case '/peek': {
        const s = await ctx.session;
        ctx.body = { count: s.count ?? null, sid: ctx.sessionId, save: ctx.sessionSave };
        return;
      }
      case '/destroy':
        ctx.session = null;
        ctx.body = { destroyed: true };
        return;
      case '/regenerate': {
        await ctx.session;
        const before = ctx.sessionId;
        await ctx.regenerateSession();
        const s = await ctx.session;
        s.count = 100;
        ctx.body = { before, after: ctx.sessionId };
        return;
      }
      case '/unsaved': {
        const s = await ctx.session;
        s.count = 999;
        ctx.sessionSave = false;
        ctx.body = { count: s.count };
        return;
      }
      case '/forced':
        await ctx.session;
        ctx.sessionSave = true;
        ctx.body = { sid: ctx.sessionId };
        return;
      case '/save-now': {
        const s = await ctx.session;
        s.count = 'saved early';
        await ctx.saveSession();
        ctx.body = { stored: await ctx.sessionStore.get(ctx.sessionId) };
        return;
      }
      case '/store':
        ctx.body = { stored: await ctx.sessionStore.get(ctx.query.sid) };
        return;
      default:
        ctx.status = 404;
    }
  };
}

/**
 * Middleware between the session and the routes that reads the session after
 * the routes ran and reports its count in `x-session-count`, once as a koa v1
 * generator and once as an async function (which is how a koa v2 app mixes
 * the two around its legacy handlers).
 */
function generatorReporter(defer: boolean) {
  return function* reporter(this: any, next: Generator): Generator<unknown, void, any> {
    yield next;
    const s = defer ? yield this.session : this.session;
    this.set('x-session-count', s ? String(s.count ?? '') : 'null');
  };
}

function asyncReporter() {
  return async function reporter(ctx: any, next: () => Promise<unknown>): Promise<void> {
    await next();
    const s = await ctx.session;
    ctx.set('x-session-count', s ? String(s.count ?? '') : 'null');
  };
}

/* ---- the variants ---- */

export interface KoaVariant {
  /** Shown in the test titles. */
  name: string;
  /** The request listener of a fresh app using `session(options)`. */
  app(options: SessionOptions): RequestListener;
}

function koa1App(middleware: Array<(this: any, next: Generator) => Generator>): RequestListener {
  const app = koa1();
  app.keys = KEYS;
  app.silent = true;
  for (const fn of middleware) app.use(fn);
  return app.callback();
}

function modernApp(Koa: typeof Koa3, middleware: Array<(ctx: any, next: () => Promise<unknown>) => unknown>): RequestListener {
  const app = new Koa();
  app.keys = KEYS;
  app.silent = true;
  for (const fn of middleware) app.use(fn as Parameters<typeof app.use>[0]);
  return app.callback();
}

const Koa2Class = Koa2 as unknown as typeof Koa3;

export const KOA1: KoaVariant = {
  name: 'koa@1, function*(next) handlers',
  app: (o) => koa1App([session(o) as any, generatorReporter(!!o.defer), generatorRoutes(!!o.defer)]),
};

export const KOA2_MIXED: KoaVariant = {
  name: 'koa@2, async middleware mixed with legacy generator handlers (koa-convert)',
  app: (o) => modernApp(Koa2Class, [session(o), asyncReporter(), convert(generatorRoutes(!!o.defer))]),
};

export const KOA3: KoaVariant = {
  name: 'koa@3, async handlers',
  app: (o) => modernApp(Koa3, [session(o), asyncReporter(), asyncRoutes()]),
};

/** Every way the matrix runs the behaviour suite. */
export const VARIANTS: KoaVariant[] = [
  KOA1,
  {
    name: 'koa@1, the explicit koa v1 entry (koa-generic-session-ts/compat)',
    app: (o) => koa1App([koa1Session(o), generatorReporter(!!o.defer), generatorRoutes(!!o.defer)]),
  },
  {
    name: 'koa@2, async handlers',
    app: (o) => modernApp(Koa2Class, [session(o), asyncReporter(), asyncRoutes()]),
  },
  KOA2_MIXED,
  {
    name: 'koa@2, app.use(convert(session())) as 1.x apps on koa v2 do',
    app: (o) => modernApp(Koa2Class, [convert(session(o)), convert(generatorReporter(!!o.defer)), convert(generatorRoutes(!!o.defer))]),
  },
  KOA3,
  {
    name: 'koa@3, legacy generator handlers through koa-convert',
    app: (o) => modernApp(Koa3, [session(o), convert(generatorReporter(!!o.defer)), convert(generatorRoutes(!!o.defer))]),
  },
];

/* ---- the behaviour suite ---- */

/** A store plus a way to look inside it that does not go through the middleware. */
export interface InspectableStore {
  store: SessionStore;
  /** What the store holds under `key` (already prefixed), or undefined. */
  read(key: string): Session | undefined;
  /**
   * The store hands out the stored object itself (koa-generic-session 1.x and
   * 2.x MemoryStore): a request's changes reach it even when not saved.
   */
  live?: boolean;
}

const PREFIX = 'koa:sess:';

function json(res: { text: string }): Body {
  return JSON.parse(res.text) as Body;
}

/** The `Cookie` request header that replays a response's session cookie and its signature. */
function cookieHeader(res: { headers: Record<string, unknown> }): string {
  return ['koa.sid', 'koa.sid.sig'].map((name) => `${name}=${cookieValue(res, name)}`).join('; ');
}

function isCleared(res: { headers: Record<string, unknown> }, name: string): boolean {
  return setCookies(res).some((line) => line.startsWith(`${name}=;`) && /expires=Thu, 01 Jan 1970/i.test(line));
}

/**
 * The session behaviour every Koa version must show, as `it` blocks: call
 * inside a `describe`. `makeStore` gives each test a fresh store.
 */
export function sessionBehaviour(variant: KoaVariant, defer: boolean, makeStore: () => InspectableStore): void {
  let inspect: InspectableStore;
  let listener: RequestListener;

  beforeEach(() => {
    inspect = makeStore();
    listener = variant.app({ defer, store: inspect.store });
  });

  it('a new visitor who uses the session gets a signed cookie naming a stored session', async () => {
    const res = await request(listener).get('/count').expect(200);
    const body = json(res);
    expect(body.count).to.equal(1);
    expect(body.sid).to.be.a('string').and.not.empty;
    expect(cookieValue(res, 'koa.sid')).to.equal(body.sid);
    expect(cookieValue(res, 'koa.sid.sig')).to.be.a('string').and.not.empty;
    expect(res.headers['x-session-count']).to.equal('1');
    expect(inspect.read(PREFIX + (body.sid as string))).to.include({ count: 1 });
  });

  it('a visitor who never changes the session gets no cookie and stores nothing', async () => {
    const res = await request(listener).get('/peek').expect(200);
    expect(json(res).count).to.equal(null);
    expect(setCookies(res)).to.deep.equal([]);
    expect(inspect.read(PREFIX + (json(res).sid as string))).to.equal(undefined);
  });

  it('a returning visitor gets the same session back and changes it', async () => {
    const agent = request.agent(listener);
    const first = json(await agent.get('/count').expect(200));
    const second = json(await agent.get('/count').expect(200));
    expect(second).to.deep.equal({ count: 2, sid: first.sid });
    expect(inspect.read(PREFIX + (first.sid as string))).to.include({ count: 2 });
  });

  it('an unchanged session is not written back and its cookie is not re-sent', async () => {
    const agent = request.agent(listener);
    const first = json(await agent.get('/count').expect(200));
    const res = await agent.get('/peek').expect(200);
    expect(json(res)).to.include({ count: 1, sid: first.sid });
    expect(setCookies(res)).to.deep.equal([]);
  });

  it('session = null destroys the session and clears the cookie', async () => {
    const agent = request.agent(listener);
    const first = json(await agent.get('/count').expect(200));
    const res = await agent.get('/destroy').expect(200);
    expect(isCleared(res, 'koa.sid')).to.equal(true);
    expect(res.headers['x-session-count']).to.equal('null');
    expect(inspect.read(PREFIX + (first.sid as string))).to.equal(undefined);
    const after = json(await agent.get('/peek').expect(200));
    expect(after.count).to.equal(null);
    expect(after.sid).to.not.equal(first.sid);
  });

  it('sessionSave = false keeps the change out of the store and sends no cookie', async () => {
    const agent = request.agent(listener);
    const first = json(await agent.get('/count').expect(200));
    const res = await agent.get('/unsaved').expect(200);
    expect(setCookies(res)).to.deep.equal([]);
    const peek = json(await agent.get('/peek').expect(200));
    expect(peek.sid).to.equal(first.sid);
    // a store that hands out its own object (1.x's MemoryStore) sees the change without any write
    expect(peek.count).to.equal(inspect.live ? 999 : 1);
  });

  it('sessionSave = true saves even an untouched new session', async () => {
    const res = await request(listener).get('/forced').expect(200);
    const sid = json(res).sid as string;
    expect(cookieValue(res, 'koa.sid')).to.equal(sid);
    expect(inspect.read(PREFIX + sid)).to.have.property('cookie');
  });

  it('sessionSave reads null until the app sets it', async () => {
    const res = await request(listener).get('/peek').expect(200);
    expect(json(res).save).to.equal(null);
  });

  it('regenerateSession() removes the old session and the old cookie no longer works', async () => {
    const agent = request.agent(listener);
    const first = await agent.get('/count').expect(200);
    const oldSid = json(first).sid as string;
    const res = await agent.get('/regenerate').expect(200);
    const { before, after } = json(res) as { before: string; after: string };
    expect(before).to.equal(oldSid);
    expect(after).to.be.a('string').and.not.equal(oldSid);
    expect(cookieValue(res, 'koa.sid')).to.equal(after);
    expect(inspect.read(PREFIX + oldSid)).to.equal(undefined);
    expect(inspect.read(PREFIX + after)).to.include({ count: 100 });
    expect(json(await agent.get('/peek').expect(200))).to.include({ count: 100, sid: after });

    const replayed = json(await request(listener).get('/peek').set('Cookie', cookieHeader(first)).expect(200));
    expect(replayed.count).to.equal(null);
    expect(replayed.sid).to.not.equal(oldSid);
  });

  it('saveSession() writes the session before the response is sent', async () => {
    const res = await request(listener).get('/save-now').expect(200);
    expect((json(res).stored as Body).count).to.equal('saved early');
  });

  it('sessionStore reads a session by its id, without the prefix', async () => {
    const agent = request.agent(listener);
    const first = json(await agent.get('/count').expect(200));
    const res = await request(listener).get('/store').query({ sid: first.sid as string }).expect(200);
    expect((json(res).stored as Body).count).to.equal(1);
    const missing = await request(listener).get('/store').query({ sid: 'no-such-session' }).expect(200);
    expect(json(missing).stored).to.equal(null);
  });
}
