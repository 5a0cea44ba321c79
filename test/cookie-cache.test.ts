import { expect } from 'chai';
import http from 'node:http';
import { Socket } from 'node:net';
import Koa from 'koa';
import { SessionCookieReader } from '../lib/cookie.js';
import type { SessionContext } from '../lib/types.js';

function context(app: Koa): SessionContext {
  const req = new http.IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = '/';
  req.headers = { host: 'example.com' };
  return app.createContext(req, new http.ServerResponse(req)) as unknown as SessionContext;
}

function setCookies(ctx: SessionContext): string[] {
  const value = ctx.res.getHeader('Set-Cookie');
  return value === undefined ? [] : Array.isArray(value) ? value : [String(value)];
}

describe('SessionCookieReader with more live sessions than its cache holds', () => {
  it('still verifies every cookie, and hands back the signature it verified', () => {
    const app = new Koa();
    app.keys = ['key one'];
    const reader = new SessionCookieReader('koa.sid', true, 4);
    const cookies: Array<{ header: string; sid: string; sig: string }> = [];
    for (let i = 0; i < 10; i++) {
      const ctx = context(app);
      ctx.cookies.set('koa.sid', 'sid' + i, { signed: true });
      const lines = setCookies(ctx).map((l) => l.split(';')[0] as string);
      cookies.push({ header: lines.join('; '), sid: 'sid' + i, sig: (lines[1] as string).split('=')[1] as string });
    }
    for (let round = 0; round < 3; round++) {
      for (const { header, sid, sig } of cookies) {
        const ctx = context(app);
        ctx.req.headers.cookie = header;
        const seen = { signedValue: undefined, signature: undefined, signatureKey: undefined };
        expect(reader.read(ctx, seen)).to.equal(sid);
        expect(reader.knownSignature(ctx, sid, seen)).to.equal(sig);
        expect(setCookies(ctx)).to.deep.equal([]);
      }
    }
    const forged = context(app);
    forged.req.headers.cookie = 'koa.sid=sid1; koa.sid.sig=' + 'A'.repeat(27);
    expect(reader.read(forged)).to.equal(undefined);
  });
});
