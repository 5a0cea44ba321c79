import { expect } from 'chai';
import type Koa from 'koa';
import request from 'supertest';
import type { Session } from '../lib/index.js';
import { app, cookieValue, setCookies } from './support/app.js';
import { RecordingStore } from './support/stores.js';
import { signedPair } from './support/hostile.js';

const KEY = 'test key one';
const PREFIX = 'koa:sess:';

/** login: regenerate, then store the user; /: report; /logout: destroy. */
function handler(defer: boolean): Koa.Middleware {
  return async (ctx) => {
    const s = (defer ? await (ctx.session as unknown as Promise<Session>) : ctx.session) as Session;
    if (ctx.path === '/visit') {
      s.visits = ((s.visits as number | undefined) ?? 0) + 1;
    } else if (ctx.path === '/login') {
      const fresh = await ctx.regenerateSession();
      fresh.user = ctx.query.user;
    } else if (ctx.path === '/logout') {
      ctx.session = null;
      ctx.body = 'bye';
      return;
    }
    const now = (defer ? await (ctx.session as unknown as Promise<Session>) : ctx.session) as Session;
    ctx.body = { sid: ctx.sessionId, user: now.user ?? null, visits: now.visits ?? 0 };
  };
}

/** The Cookie header a browser would send back after this response. */
function jar(res: { headers: Record<string, unknown> }): string {
  return setCookies(res)
    .map((line) => line.split(';')[0] as string)
    .filter((pair) => !pair.endsWith('='))
    .join('; ');
}

for (const defer of [false, true]) {
  describe(`session fixation (${defer ? 'defer' : 'eager'})`, () => {
    for (const signed of [true, false]) {
      it(`a ${signed ? 'validly signed' : 'unsigned'} cookie naming an id the store lacks gets a new id, never the chosen one`, async () => {
        const store = new RecordingStore();
        const koa = app({ store, defer, cookie: { signed } }, handler(defer));
        const chosen = 'attackerChosenId0000000000';
        const cookie = signed ? signedPair('koa.sid', chosen, KEY) : `koa.sid=${chosen}`;
        const res = await request(koa.callback()).get('/visit').set('Cookie', cookie);
        expect(res.status).to.equal(200);
        expect(res.body.sid).to.be.a('string').and.not.equal(chosen);
        expect(cookieValue(res, 'koa.sid')).to.equal(res.body.sid);
        expect(store.data.has(PREFIX + chosen), 'the chosen id is never stored').to.equal(false);
        expect(store.calls.filter((c) => c.op !== 'get').map((c) => c.key)).to.deep.equal([PREFIX + res.body.sid]);
      });
    }

    it('regenerateSession() on login removes the old id from the store; the old cookie no longer works', async () => {
      const store = new RecordingStore();
      const koa = app({ store, defer }, handler(defer));
      // the attacker gets an anonymous session and plants its cookie in the victim's browser
      const planted = await request(koa.callback()).get('/visit');
      const oldSid = planted.body.sid as string;
      const plantedCookie = jar(planted);
      expect(store.data.has(PREFIX + oldSid)).to.equal(true);

      // the victim logs in with the planted cookie
      const login = await request(koa.callback()).get('/login?user=victim').set('Cookie', plantedCookie);
      expect(login.status).to.equal(200);
      const newSid = login.body.sid as string;
      expect(newSid).to.not.equal(oldSid);
      expect(login.body.user).to.equal('victim');
      expect(cookieValue(login, 'koa.sid')).to.equal(newSid);
      expect(store.data.has(PREFIX + oldSid), 'old id removed from the store').to.equal(false);
      expect(store.calls.some((c) => c.op === 'destroy' && c.key === PREFIX + oldSid)).to.equal(true);
      expect(JSON.parse(store.data.get(PREFIX + newSid) as string).user).to.equal('victim');

      // the attacker's copy of the old cookie gets a fresh, anonymous session
      const attacker = await request(koa.callback()).get('/').set('Cookie', plantedCookie);
      expect(attacker.body.user).to.equal(null);
      expect(attacker.body.sid).to.not.be.oneOf([oldSid, newSid]);
      // and the victim's new cookie works
      const victim = await request(koa.callback()).get('/').set('Cookie', jar(login));
      expect(victim.body).to.include({ sid: newSid, user: 'victim' });
    });

    it('logout (ctx.session = null) removes the id from the store; the cookie no longer works', async () => {
      const store = new RecordingStore();
      const koa = app({ store, defer }, handler(defer));
      const login = await request(koa.callback()).get('/login?user=ann');
      const sid = login.body.sid as string;
      const logout = await request(koa.callback()).get('/logout').set('Cookie', jar(login));
      expect(logout.text).to.equal('bye');
      expect(store.data.has(PREFIX + sid)).to.equal(false);
      expect(cookieValue(logout, 'koa.sid')).to.equal('');
      const again = await request(koa.callback()).get('/').set('Cookie', jar(login));
      expect(again.body.user).to.equal(null);
      expect(again.body.sid).to.not.equal(sid);
    });
  });
}
