import { expect } from 'chai';
import request from 'supertest';
import { app, cookieValue, setCookies } from './support/app.js';
import { RecordingStore } from './support/stores.js';
import { SessionKeysMissingError } from '../lib/index.js';
import Koa from 'koa';
import session from '../lib/index.js';

async function login(koa: Koa): Promise<{ cookie: string; sid: string }> {
  const res = await request(koa.callback()).get('/login');
  return {
    cookie: setCookies(res).map((c) => c.split(';')[0]).join('; '),
    sid: cookieValue(res, 'koa.sid') as string,
  };
}

describe('signed session cookies', () => {
  const handler = (ctx: Koa.Context) => {
    if (ctx.path === '/login') ctx.session!.user = 'ann';
    ctx.body = { user: ctx.session!.user ?? null };
  };

  it('accepts a cookie signed with an older key and re-signs it with the current one', async () => {
    const store = new RecordingStore();
    const koa = app({ store }, handler);
    koa.keys = ['old'];
    const { cookie } = await login(koa);
    koa.keys = ['new', 'old'];
    const res = await request(koa.callback()).get('/').set('Cookie', cookie);
    expect(res.body.user).to.equal('ann');
    expect(setCookies(res)).to.have.length(1);
    expect(setCookies(res)[0]).to.match(/^koa\.sid\.sig=/);
    koa.keys = ['newer'];
    const revoked = await request(koa.callback()).get('/').set('Cookie', cookie);
    expect(revoked.body.user).to.equal(null);
  });

  it('stops accepting a remembered signature once the key it was made with is gone', async () => {
    const koa = app({}, handler);
    koa.keys = ['first'];
    const { cookie } = await login(koa);
    expect((await request(koa.callback()).get('/').set('Cookie', cookie)).body.user).to.equal('ann');
    koa.keys = ['second'];
    expect((await request(koa.callback()).get('/').set('Cookie', cookie)).body.user).to.equal(null);
  });

  it('refuses a tampered value or signature and clears the signature cookie', async () => {
    const koa = app({}, handler);
    const { cookie, sid } = await login(koa);
    const forged = cookie.replace(sid, sid.slice(0, -1) + (sid.endsWith('A') ? 'B' : 'A'));
    const res = await request(koa.callback()).get('/').set('Cookie', forged);
    expect(res.body.user).to.equal(null);
    expect(setCookies(res).some((c) => /^koa\.sid\.sig=;/.test(c))).to.equal(true);
  });

  it('reads unsigned cookies when cookie.signed is false', async () => {
    const koa = app({ cookie: { signed: false } }, handler);
    const res = await request(koa.callback()).get('/login');
    expect(setCookies(res)).to.have.length(1);
    const again = await request(koa.callback()).get('/').set('Cookie', setCookies(res)[0]!.split(';')[0]!);
    expect(again.body.user).to.equal('ann');
  });

  it('without app.keys, fails with SessionKeysMissingError saying what to set', async () => {
    const koa = new Koa();
    koa.silent = true;
    const errors: Error[] = [];
    koa.on('error', (e: Error) => errors.push(e));
    koa.use(session());
    koa.use(handler);
    const res = await request(koa.callback()).get('/login');
    expect(res.status).to.equal(500);
    expect(errors[0]).to.be.instanceOf(SessionKeysMissingError);
    expect((errors[0] as SessionKeysMissingError).code).to.equal('ERR_SESSION_KEYS_MISSING');
    expect(errors[0]!.message).to.match(/app\.keys/);
  });
});
