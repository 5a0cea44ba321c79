import { expect } from 'chai';
import request from 'supertest';
import { app, agent, cookieValue, setCookies } from './support/app.js';
import { RecordingStore } from './support/stores.js';

describe('defer mode', () => {
  it('loads the session only when `await ctx.session` asks for it', async () => {
    const store = new RecordingStore();
    const koa = app({ store, defer: true }, async (ctx) => {
      if (ctx.path === '/untouched') {
        ctx.body = 'no session';
        return;
      }
      const s = await ctx.session;
      s!.n = ((s!.n as number) ?? 0) + 1;
      ctx.body = { n: s!.n };
    });
    const a = agent(koa);
    expect((await a.get('/')).body.n).to.equal(1);
    expect((await a.get('/')).body.n).to.equal(2);
    store.calls.length = 0;
    const untouched = await a.get('/untouched');
    expect(store.ops()).to.deep.equal([]);
    expect(setCookies(untouched)).to.deep.equal([]);
  });

  it('returns the same session to concurrent reads within a request', async () => {
    const koa = app({ defer: true }, async (ctx) => {
      const [a, b] = await Promise.all([ctx.session, ctx.session]);
      ctx.body = { same: a === b && a !== undefined };
    });
    expect((await request(koa.callback()).get('/')).body.same).to.equal(true);
  });

  it('saves the session when downstream throws, and the first error propagates', async () => {
    const store = new RecordingStore();
    const koa = app({ store, defer: true }, async (ctx) => {
      const s = await ctx.session;
      s!.x = 1;
      throw new Error('boom');
    });
    const res = await request(koa.callback()).get('/');
    expect(res.status).to.equal(500);
    expect(store.ops()).to.deep.equal(['set']);
  });

  it('ctx.session = null on a request with no cookie touches no store key', async () => {
    const store = new RecordingStore();
    const koa = app({ store, defer: true }, (ctx) => {
      ctx.session = null;
      ctx.body = 'ok';
    });
    await request(koa.callback()).get('/');
    expect(store.calls.filter((c) => c.op === 'destroy')).to.deep.equal([]);
    expect(store.calls.map((c) => c.key)).to.not.include('koa:sess:undefined');
  });

  it('ctx.session = null without a read destroys the cookie\'s session', async () => {
    const store = new RecordingStore();
    const koa = app({ store, defer: true }, async (ctx) => {
      if (ctx.path === '/login') (await ctx.session)!.user = 'ann';
      if (ctx.path === '/logout') ctx.session = null;
      ctx.body = 'ok';
    });
    const a = agent(koa);
    const sid = cookieValue(await a.get('/login'), 'koa.sid') as string;
    await a.get('/logout');
    expect(store.data.has('koa:sess:' + sid)).to.equal(false);
  });

  it('an assignment without a read keeps the id of an existing session and never adopts an unknown one', async () => {
    const store = new RecordingStore();
    const koa = app({ store, defer: true }, async (ctx) => {
      if (ctx.path === '/assign') ctx.session = { cookie: {}, user: 'bob' } as never;
      else (await ctx.session)!.visited = true;
      ctx.body = 'ok';
    });
    const a = agent(koa);
    const sid = cookieValue(await a.get('/'), 'koa.sid') as string;
    await a.get('/assign');
    expect(store.stored('koa:sess:' + sid)).to.deep.include({ user: 'bob' });

    store.data.clear();
    const res = await a.get('/assign');
    const newSid = cookieValue(res, 'koa.sid');
    expect(newSid).to.be.a('string').and.not.equal(sid);
    expect(store.data.has('koa:sess:' + sid)).to.equal(false);
  });

  it('saveSession() saves the current session without reloading it', async () => {
    const store = new RecordingStore();
    const koa = app({ store, defer: true }, async (ctx) => {
      const s = await ctx.session;
      s!.a = 1;
      await ctx.saveSession();
      ctx.body = { stored: store.stored('koa:sess:' + ctx.sessionId) };
    });
    const res = await request(koa.callback()).get('/');
    expect(res.body.stored).to.deep.include({ a: 1 });
    expect(store.ops()).to.deep.equal(['set']);
  });

  it('regenerateSession() resolves to the new session', async () => {
    const koa = app({ defer: true }, async (ctx) => {
      const before = await ctx.session;
      before!.user = 'x';
      const after = await ctx.regenerateSession();
      ctx.body = { fresh: after.user === undefined, current: (await ctx.session) === after };
    });
    expect((await request(koa.callback()).get('/')).body).to.deep.equal({ fresh: true, current: true });
  });
});
