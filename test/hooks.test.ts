import { expect } from 'chai';
import request from 'supertest';
import { app, agent, cookieValue } from './support/app.js';
import { RecordingStore } from './support/stores.js';
import type { SessionContext } from '../lib/index.js';

describe('hooks and pluggable parts', () => {
  it('genSid is called with the context as this and 24, and may return a promise', async () => {
    const calls: Array<[unknown, number]> = [];
    const koa = app(
      {
        async genSid(this: SessionContext, length: number) {
          calls.push([this.path, length]);
          return 'custom-' + length;
        },
      },
      (ctx) => {
        ctx.session!.x = 1;
        ctx.body = ctx.sessionId;
      },
    );
    const res = await request(koa.callback()).get('/here');
    expect(res.text).to.equal('custom-24');
    expect(calls).to.deep.equal([['/here', 24]]);
  });

  it('rejects a genSid result that cannot be a session id', async () => {
    const errors: Error[] = [];
    const koa = app({ genSid: () => '' }, (ctx) => (ctx.body = 'ok'));
    koa.on('error', (e: Error) => errors.push(e));
    expect((await request(koa.callback()).get('/')).status).to.equal(500);
    expect(errors[0]).to.be.instanceOf(TypeError);
    expect(errors[0]!.message).to.match(/genSid must return/);
  });

  it('valid(ctx, session) returning false discards the stored session', async () => {
    const store = new RecordingStore();
    const koa = app(
      { store, valid: (ctx, s) => s.ua === ctx.get('user-agent') },
      (ctx) => {
        ctx.session!.ua ??= ctx.get('user-agent');
        ctx.body = ctx.sessionId;
      },
    );
    const a = agent(koa);
    const first = await a.get('/').set('User-Agent', 'one');
    const same = await a.get('/').set('User-Agent', 'one');
    expect(same.text).to.equal(first.text);
    const other = await a.get('/').set('User-Agent', 'two');
    expect(other.text).to.not.equal(first.text);
  });

  it('beforeSave(ctx, session) runs just before a write and can change what is stored', async () => {
    const store = new RecordingStore();
    const koa = app(
      { store, beforeSave: (ctx, s) => void (s.savedAt = ctx.path) },
      (ctx) => {
        ctx.session!.x = 1;
        ctx.body = 'ok';
      },
    );
    const res = await request(koa.callback()).get('/p');
    expect(store.stored('koa:sess:' + cookieValue(res, 'koa.sid'))).to.deep.include({ savedAt: '/p' });
  });

  describe('errorHandler(err, type, ctx)', () => {
    for (const type of ['get', 'set', 'destroy'] as const) {
      it(`receives ${type} errors`, async () => {
        const store = new RecordingStore();
        const seen: Array<[string, string, boolean]> = [];
        const koa = app(
          { store, errorHandler: (err, t, ctx) => seen.push([(err as Error).message, t, typeof ctx.path === 'string']) },
          (ctx) => {
            if (ctx.path === '/logout') ctx.session = null;
            // a counter, not Date.now(): two requests in one millisecond would leave the session unchanged, unsaved
            else ctx.session!.x = Number(ctx.session!.x ?? 0) + 1;
            ctx.body = 'ok';
          },
        );
        const a = agent(koa);
        await a.get('/');
        store.fail[type] = new Error(`${type} failed`);
        const res = await a.get(type === 'destroy' ? '/logout' : '/');
        expect(res.status).to.equal(200);
        expect(seen).to.deep.equal([[`${type} failed`, type, true]]);
      });
    }

    it('by default rethrows with the name koa-generic-session <type> error', async () => {
      const store = new RecordingStore();
      const errors: Error[] = [];
      const koa = app({ store }, (ctx) => {
        ctx.session!.x = 1;
        ctx.body = 'ok';
      });
      koa.on('error', (e: Error) => errors.push(e));
      store.fail.set = new Error('disk full');
      const res = await request(koa.callback()).get('/');
      expect(res.status).to.equal(500);
      expect(errors[0]!.name).to.equal('koa-generic-session set error');
      expect(errors[0]!.message).to.equal('disk full');
    });

    it('treats a get error with code ENOENT as no session', async () => {
      const store = new RecordingStore();
      const seen: string[] = [];
      const koa = app({ store, errorHandler: (_e, t) => seen.push(t) }, (ctx) => {
        ctx.session!.x = 1;
        ctx.body = ctx.sessionId;
      });
      const a = agent(koa);
      const first = await a.get('/');
      store.fail.get = Object.assign(new Error('gone'), { code: 'ENOENT' });
      const second = await a.get('/');
      expect(second.status).to.equal(200);
      expect(second.text).to.not.equal(first.text);
      expect(seen).to.deep.equal([]);
    });
  });

  it('sessionIdStore {get, set, reset} carries the id instead of the cookie, called with the context as this', async () => {
    const store = new RecordingStore();
    const koa = app(
      {
        store,
        sessionIdStore: {
          get(this: SessionContext) {
            return this.get('x-session-id') || undefined;
          },
          set(this: SessionContext, sid: string) {
            this.set('x-session-id', sid);
          },
          reset(this: SessionContext) {
            this.set('x-session-reset', '1');
          },
        },
      },
      (ctx) => {
        ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
        ctx.body = { n: ctx.session!.n };
      },
    );
    const first = await request(koa.callback()).get('/');
    const sid = first.headers['x-session-id'] as string;
    expect(sid).to.be.a('string');
    expect(first.headers['set-cookie']).to.equal(undefined);
    const second = await request(koa.callback()).get('/').set('x-session-id', sid);
    expect(second.body.n).to.equal(2);
    const unknown = await request(koa.callback()).get('/').set('x-session-id', 'nobody');
    expect(unknown.headers['x-session-reset']).to.equal('1');
    expect(unknown.body.n).to.equal(1);
  });

  it('a custom key and prefix name the cookie and the store keys', async () => {
    const store = new RecordingStore();
    const koa = app({ store, key: 'sid', prefix: 'app:' }, (ctx) => {
      ctx.session!.x = 1;
      ctx.body = 'ok';
    });
    const res = await request(koa.callback()).get('/');
    const sid = cookieValue(res, 'sid') as string;
    expect(sid).to.be.a('string');
    expect([...store.data.keys()]).to.deep.equal(['app:' + sid]);
  });

  it('ctx.sessionStore takes un-prefixed ids', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, async (ctx) => {
      ctx.session!.x = 1;
      await ctx.saveSession();
      const loaded = await ctx.sessionStore.get(ctx.sessionId as string);
      ctx.body = { x: loaded?.x };
    });
    expect((await request(koa.callback()).get('/')).body).to.deep.equal({ x: 1 });
  });
});
