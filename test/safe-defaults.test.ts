import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';
import session, { SessionKeysMissingError, type Session } from '../lib/index.js';
import { app, setCookies } from './support/app.js';
import { signedPair } from './support/hostile.js';

function write(ctx: Koa.Context): void {
  (ctx.session as Session).user = 'ann';
  ctx.body = 'ok';
}

describe('safe defaults', () => {
  it('the session cookie is signed, httpOnly, path=/, with a one-day expiry', async () => {
    const res = await request(app({}, write).callback()).get('/');
    const cookies = setCookies(res);
    expect(cookies).to.have.length(2);
    const [sid, sig] = cookies as [string, string];
    expect(sid).to.match(/^koa\.sid=[A-Za-z0-9_-]{24};/);
    expect(sig).to.match(/^koa\.sid\.sig=[A-Za-z0-9_-]{27};/);
    for (const line of cookies) {
      expect(line).to.match(/; path=\/;/);
      expect(line).to.match(/; httponly$/);
      const expires = Date.parse(/expires=([^;]+)/.exec(line)![1]!);
      expect(expires - Date.now()).to.be.within(24 * 3600e3 - 60e3, 24 * 3600e3 + 60e3);
    }
  });

  it('session ids are 24 characters of a 64-character alphabet (144 bits), a new one per session', async () => {
    const koa = app({}, write);
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const res = await request(koa.callback()).get('/');
      const sid = /^koa\.sid=([^;]+)/.exec(setCookies(res)[0]!)![1]!;
      expect(sid).to.match(/^[A-Za-z0-9_-]{24}$/);
      ids.add(sid);
    }
    expect(ids.size).to.equal(200);
  });

  it('an unchanged new session sets no cookie and stores nothing', async () => {
    const res = await request(app({}, (ctx) => { ctx.body = 'ok'; }).callback()).get('/');
    expect(setCookies(res)).to.deep.equal([]);
  });

  describe('signed cookies without app.keys', () => {
    for (const [name, keys] of [
      ['unset', undefined],
      ['an empty array', []],
    ] as const) {
      for (const [what, cookie] of [
        ['a request that writes a session', undefined],
        ['a request that carries a signed cookie', signedPair('koa.sid', 'someid000000000000000000', 'k')],
      ] as const) {
        it(`app.keys ${name}: ${what} fails with SessionKeysMissingError saying what to set`, async () => {
          const koa = new Koa();
          if (keys !== undefined) koa.keys = [...keys];
          koa.silent = true;
          const errors: Error[] = [];
          koa.on('error', (err: Error) => errors.push(err));
          koa.use(session());
          koa.use(write);
          const req = request(koa.callback()).get('/');
          const res = await (cookie === undefined ? req : req.set('Cookie', cookie));
          expect(res.status).to.equal(500);
          expect(errors).to.have.length(1);
          const err = errors[0] as SessionKeysMissingError;
          expect(err).to.be.instanceOf(SessionKeysMissingError);
          expect(err.code).to.equal('ERR_SESSION_KEYS_MISSING');
          expect(err.message).to.include('app.keys = [');
          expect(err.message).to.include('signed: false');
        });
      }
    }

    it('unsigned cookies need no keys', async () => {
      const koa = new Koa();
      koa.use(session({ cookie: { signed: false } }));
      koa.use(write);
      const res = await request(koa.callback()).get('/');
      expect(res.status).to.equal(200);
      expect(setCookies(res)).to.have.length(1);
    });
  });
});
