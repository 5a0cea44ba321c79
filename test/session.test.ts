import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';
import session from '../lib/index.js';
import { app, agent, cookieValue, setCookies } from './support/app.js';
import { RecordingStore } from './support/stores.js';

describe('session (eager mode)', () => {
  it('creates a session only when it is changed, and sets a signed httpOnly cookie', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, (ctx) => {
      if (ctx.path === '/set') ctx.session!.user = 'ann';
      ctx.body = ctx.session;
    });
    const untouched = await request(koa.callback()).get('/');
    expect(setCookies(untouched)).to.deep.equal([]);
    expect(store.ops()).to.deep.equal([]);

    const res = await request(koa.callback()).get('/set');
    const lines = setCookies(res);
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^koa\.sid=[A-Za-z0-9_-]{24}; path=\/; expires=.+; httponly$/);
    expect(lines[1]).to.match(/^koa\.sid\.sig=[A-Za-z0-9_-]{27}; path=\/; expires=.+; httponly$/);
    const sid = cookieValue(res, 'koa.sid') as string;
    expect(store.stored('koa:sess:' + sid)).to.deep.include({ user: 'ann' });
    expect(store.ttls.get('koa:sess:' + sid)).to.equal(86_400_000);
  });

  it('keeps the session across requests and writes only when it changes', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, (ctx) => {
      if (ctx.path === '/inc') ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
      ctx.body = { n: ctx.session!.n ?? 0, id: ctx.sessionId };
    });
    const a = agent(koa);
    const first = await a.get('/inc');
    expect(first.body.n).to.equal(1);
    const second = await a.get('/inc');
    expect(second.body).to.deep.equal({ n: 2, id: first.body.id });
    store.calls.length = 0;
    const read = await a.get('/');
    expect(read.body.n).to.equal(2);
    expect(setCookies(read)).to.deep.equal([]);
    expect(store.ops()).to.deep.equal(['get']);
  });

  it('stores an untouched new session with allowEmpty', async () => {
    const store = new RecordingStore();
    const res = await request(app({ store, allowEmpty: true }, (ctx) => (ctx.body = 'ok')).callback()).get('/');
    expect(cookieValue(res, 'koa.sid')).to.be.a('string');
    expect(store.ops()).to.deep.equal(['set']);
  });

  it('destroys the session on ctx.session = null and clears the cookie', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, (ctx) => {
      if (ctx.path === '/login') ctx.session!.user = 'ann';
      if (ctx.path === '/logout') ctx.session = null;
      ctx.body = ctx.session ?? 'none';
    });
    const a = agent(koa);
    const login = await a.get('/login');
    const sid = cookieValue(login, 'koa.sid') as string;
    const logout = await a.get('/logout');
    expect(store.data.has('koa:sess:' + sid)).to.equal(false);
    expect(setCookies(logout)[0]).to.match(/^koa\.sid=; path=\/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly$/);
    const after = await a.get('/');
    expect(after.body).to.have.property('cookie');
    expect(after.body).to.not.have.property('user');
  });

  it('ctx.sessionSave = false forbids a save, true forces one', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, (ctx) => {
      ctx.session!.n = 1;
      if (ctx.query.save === 'false') ctx.sessionSave = false;
      if (ctx.query.save === 'true') ctx.sessionSave = true;
      ctx.body = String(ctx.sessionSave);
    });
    const no = await request(koa.callback()).get('/?save=false');
    expect(no.text).to.equal('false');
    expect(store.ops()).to.deep.equal([]);
    const a = agent(koa);
    await a.get('/');
    store.calls.length = 0;
    await a.get('/?save=true');
    expect(store.ops()).to.deep.equal(['get', 'set']);
  });

  it('regenerateSession() destroys the old id, issues a new one and the old cookie stops working', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, async (ctx) => {
      if (ctx.path === '/login') {
        await ctx.regenerateSession();
        ctx.session!.user = 'ann';
      }
      ctx.body = { user: ctx.session!.user ?? null, id: ctx.sessionId };
    });
    const a = agent(koa);
    const anon = await a.get('/login');
    const firstId = anon.body.id as string;
    const again = await a.get('/login');
    expect(again.body.id).to.not.equal(firstId);
    expect(store.data.has('koa:sess:' + firstId)).to.equal(false);
    expect(store.data.has('koa:sess:' + again.body.id)).to.equal(true);
    const stale = await request(koa.callback())
      .get('/')
      .set('Cookie', setCookies(anon).map((c) => c.split(';')[0]).join('; '));
    expect(stale.body.user).to.equal(null);
    expect(stale.body.id).to.not.equal(firstId);
  });

  it('saveSession() saves now and the end of the request does not write it again', async () => {
    const store = new RecordingStore();
    let storedDuringRequest: unknown;
    const koa = app({ store }, async (ctx) => {
      ctx.session!.step = 1;
      await ctx.saveSession();
      storedDuringRequest = store.stored('koa:sess:' + ctx.sessionId);
      ctx.body = 'ok';
    });
    await request(koa.callback()).get('/');
    expect(storedDuringRequest).to.deep.include({ step: 1 });
    expect(store.ops()).to.deep.equal(['set']);
  });

  it('changes the cookie of one user through ctx.session.cookie', async () => {
    const koa = app({}, (ctx) => {
      ctx.session!.cookie.maxAge = 1000;
      ctx.session!.cookie.sameSite = 'lax';
      ctx.session!.x = 1;
      ctx.body = 'ok';
    });
    const res = await request(koa.callback()).get('/');
    expect(setCookies(res)[0]).to.match(/; expires=.+; samesite=lax; httponly$/);
    const expires = Date.parse(/expires=([^;]+)/.exec(setCookies(res)[0] as string)![1] as string);
    expect(expires - Date.now()).to.be.below(2000);
  });

  it('accepts connect-style cookie.maxage as maxAge', async () => {
    const store = new RecordingStore();
    const koa = app({ store, cookie: { maxage: 5000 } }, (ctx) => {
      ctx.session!.x = 1;
      ctx.body = ctx.session!.cookie;
    });
    const res = await request(koa.callback()).get('/');
    expect(res.body.maxAge).to.equal(5000);
    expect(res.body).to.not.have.property('maxage');
    expect([...store.ttls.values()]).to.deep.equal([5000]);
  });

  it('gives no session to paths outside cookie.path, matching on segment boundaries', async () => {
    const koa = app({ cookie: { path: '/api' } }, (ctx) => {
      ctx.body = { has: ctx.session !== undefined };
    });
    const call = (path: string) => request(koa.callback()).get(path).then((r) => r.body.has);
    expect(await call('/api')).to.equal(true);
    expect(await call('/api/users')).to.equal(true);
    expect(await call('/apix')).to.equal(false);
    expect(await call('/')).to.equal(false);
  });

  it('ignores a second session middleware on the same app', async () => {
    const first = new RecordingStore();
    const second = new RecordingStore();
    const koa = new Koa();
    koa.keys = ['k'];
    koa.use(session({ store: first }));
    koa.use(session({ store: second, key: 'other' }));
    koa.use((ctx) => {
      ctx.session!.x = 1;
      ctx.body = 'ok';
    });
    const res = await request(koa.callback()).get('/');
    expect(cookieValue(res, 'koa.sid')).to.be.a('string');
    expect(cookieValue(res, 'other')).to.equal(undefined);
    expect(first.ops()).to.deep.equal(['set']);
    expect(second.ops()).to.deep.equal([]);
  });

  it('saves the session when downstream throws, and the error still propagates', async () => {
    const store = new RecordingStore();
    const errors: unknown[] = [];
    const koa = app({ store }, (ctx) => {
      ctx.session!.x = 1;
      ctx.throw(418, 'teapot');
    });
    koa.on('error', (err) => errors.push(err));
    const res = await request(koa.callback()).get('/');
    expect(res.status).to.equal(418);
    expect(store.ops()).to.deep.equal(['set']);
    expect(errors).to.have.length(1);
  });

  it('treats a cookie for an id the store does not have as a new session with a new id', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, (ctx) => {
      ctx.session!.x = 1;
      ctx.body = ctx.sessionId;
    });
    const a = agent(koa);
    const first = await a.get('/');
    store.data.clear();
    const second = await a.get('/');
    expect(second.text).to.not.equal(first.text);
  });

  it('rejects a ctx.session that is not an object with a TypeError', async () => {
    const errors: Error[] = [];
    const koa = app({}, (ctx) => {
      (ctx as { session: unknown }).session = 'nope';
      ctx.body = 'ok';
    });
    koa.on('error', (err: Error) => errors.push(err));
    const res = await request(koa.callback()).get('/');
    expect(res.status).to.equal(500);
    expect(errors[0]).to.be.instanceOf(TypeError);
    expect(errors[0]!.message).to.match(/ctx\.session must be an object/);
  });

  it('does not crash when headers were already sent before the session is saved', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, (ctx) => {
      ctx.session!.x = 1;
      ctx.status = 200;
      ctx.res.flushHeaders();
      ctx.body = 'streamed';
    });
    const res = await request(koa.callback()).get('/');
    expect(res.status).to.equal(200);
    expect(res.text).to.equal('streamed');
    expect(setCookies(res)).to.deep.equal([]);
  });

  it('prints the MemoryStore warning with koa-generic-session\'s text in production', () => {
    const previous = process.env.NODE_ENV;
    const original = console.warn;
    const printed: unknown[] = [];
    console.warn = (...args: unknown[]) => printed.push(args.join(' '));
    try {
      process.env.NODE_ENV = 'production';
      session();
      session({ store: new RecordingStore() });
    } finally {
      console.warn = original;
      // assigning undefined would store the string "undefined"
      if (previous === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = previous;
    }
    expect(printed).to.deep.equal([
      "Warning: koa-generic-session's MemoryStore is not\n" +
        'designed for a production environment, as it will leak\n' +
        'memory, and will not scale past a single process.',
    ]);
  });
});
