// koa v1 code as it was written against koa-generic-session 1.x: delegating
// with `yield*` (1.x handed out generators), hooks that receive the koa v1
// context, and the ways koa v1 and koa v2 apps wrapped their middleware.
import { expect } from 'chai';
import koa1 from 'koa1';
import Koa2 from 'koa2';
import request from 'supertest';
import convert from 'koa-convert';
import isGeneratorFunction from 'is-generator-function';
import session, { MemoryStore } from '../lib/index.js';
import { session as compatSession, MemoryStore as CompatMemoryStore } from '../compat/index.js';
import { cookieValue } from './support/app.js';

type Koa1Factory = (options?: Record<string, unknown>) => (this: any, next: Generator) => Generator;
const entries: Array<[string, Koa1Factory]> = [
  ['the main entry', (o) => session(o as never) as never],
  ['the koa v1 entry (compat)', (o) => compatSession(o as never)],
];

function koa1App(...middleware: Array<(this: any, next: Generator) => Generator>) {
  const app = koa1();
  app.keys = ['idiom key'];
  app.silent = true;
  for (const fn of middleware) app.use(fn);
  return app.callback();
}

/** A koa v1 handler that delegates with `yield*` everywhere 1.x allowed it. */
function* yieldStarRoutes(this: any): Generator<unknown, void, any> {
  if (this.path === '/login') {
    const before = yield* this.session;
    before.visits = (before.visits ?? 0) + 1;
    const fresh = yield* this.regenerateSession();
    fresh.user = 'ann';
    yield* this.saveSession();
    this.body = { user: (yield* this.session).user, stored: yield* this.sessionStore.get(this.sessionId) };
    return;
  }
  this.body = { user: (yield* this.session).user ?? null };
}

describe('koa v1 idioms', () => {
  for (const [entry, factory] of entries) {
    describe(entry, () => {
      it('yield* this.session, yield* this.regenerateSession(), yield* this.saveSession() and yield* this.sessionStore.get() work as with 1.x', async () => {
        const agent = request.agent(koa1App(factory({ defer: true }), yieldStarRoutes));
        const login = await agent.get('/login').expect(200);
        expect(login.body.user).to.equal('ann');
        expect(login.body.stored).to.include({ user: 'ann' });
        expect((await agent.get('/').expect(200)).body).to.deep.equal({ user: 'ann' });
      });

      it('even uncalled, yield this.regenerateSession and yield this.saveSession run, as 1.x generator functions did', async () => {
        const listener = koa1App(factory(), function* (this: any): Generator<unknown, void, any> {
          this.session.n = 1;
          const before = this.sessionId;
          yield this.regenerateSession;
          this.session.n = 2;
          yield this.saveSession;
          this.body = { renewed: this.sessionId !== before, stored: yield this.sessionStore.get(this.sessionId) };
        });
        const res = await request(listener).get('/').expect(200);
        expect(res.body.renewed).to.equal(true);
        expect(res.body.stored).to.include({ n: 2 });
      });

      it('hooks receive the koa v1 context: a synchronous genSid, valid, beforeSave, sessionIdStore', async () => {
        const seen: string[] = [];
        const options = {
          genSid(this: any, length: number) {
            seen.push(`genSid ${length} ${this.path}`);
            return 'sid-from-' + this.get('x-user');
          },
          valid(ctx: any, s: Record<string, unknown>) {
            seen.push(`valid ${ctx.path} ${String(s.n)}`);
            return true;
          },
          beforeSave(ctx: any, s: Record<string, unknown>) {
            seen.push(`beforeSave ${ctx.path} ${String(s.n)}`);
          },
          sessionIdStore: {
            get(this: any) {
              return this.get('x-sid') || undefined;
            },
            set(this: any, sid: string) {
              this.set('x-sid', sid);
            },
            reset(this: any) {
              this.set('x-sid', '');
            },
          },
        };
        const listener = koa1App(factory(options), function* (this: any) {
          this.session.n = (this.session.n ?? 0) + 1;
          this.body = { n: this.session.n, sid: this.sessionId };
        });
        const first = await request(listener).get('/a').set('x-user', 'ann').expect(200);
        expect(first.body).to.deep.equal({ n: 1, sid: 'sid-from-ann' });
        expect(first.headers['x-sid']).to.equal('sid-from-ann');
        const second = await request(listener).get('/b').set('x-sid', 'sid-from-ann').expect(200);
        expect(second.body).to.deep.equal({ n: 2, sid: 'sid-from-ann' });
        expect(seen).to.deep.equal(['genSid 24 /a', 'beforeSave /a 1', 'valid /b 1', 'beforeSave /b 2']);
      });

      it('middleware above the session sees this.session after yield next', async () => {
        const listener = koa1App(
          function* (this: any, next: Generator) {
            yield next;
            this.set('x-after', String(this.session.n));
          },
          factory(),
          function* (this: any) {
            this.session.n = 7;
            this.body = 'ok';
          },
        );
        const res = await request(listener).get('/').expect(200);
        expect(res.headers['x-after']).to.equal('7');
      });

      it('keeps the middleware API: status, sessionStore, close(), and on() returns what app.use takes', async () => {
        const store = new MemoryStore();
        const statuses: string[] = [];
        const mw = factory({ store }) as any;
        expect(mw.status).to.equal('available');
        expect(mw.sessionStore.client).to.equal(store);
        const chained = mw.on('status', (s: string) => statuses.push(s));
        expect(chained).to.equal(mw);
        const listener = koa1App(chained, function* (this: any) {
          this.session.n = 1;
          this.body = 'ok';
        });
        const res = await request(listener).get('/').expect(200);
        expect(await mw.sessionStore.get(cookieValue(res, 'koa.sid') as string)).to.include({ n: 1 });
        await mw.close();
      });
    });
  }

  it('the main entry passes koa v1 and koa-convert checks (constructor GeneratorFunction) yet is no generator function to is-generator-function, so koa v2 does not wrap it', () => {
    const mw = session();
    expect(mw.constructor.name).to.equal('GeneratorFunction');
    expect(isGeneratorFunction(mw)).to.equal(false);
    expect(isGeneratorFunction(compatSession())).to.equal(true);
    expect(CompatMemoryStore).to.equal(MemoryStore);
  });

  it('koa-convert.back(session()) in a koa v1 app', async () => {
    const agent = request.agent(
      koa1App(convert.back(session() as never), function* (this: any) {
        this.session.n = (this.session.n ?? 0) + 1;
        this.body = { n: this.session.n };
      }),
    );
    await agent.get('/').expect(200, { n: 1 });
    await agent.get('/').expect(200, { n: 2 });
  });

  it('koa v2, app.use(convert(session({ defer: true }))) as 1.x apps did: legacy handlers keep yield*', async () => {
    const app = new Koa2();
    app.keys = ['idiom key'];
    app.silent = true;
    app.use(convert(session({ defer: true })));
    app.use(convert(yieldStarRoutes));
    const agent = request.agent(app.callback());
    expect((await agent.get('/login').expect(200)).body.user).to.equal('ann');
    expect((await agent.get('/').expect(200)).body).to.deep.equal({ user: 'ann' });
  });
});
