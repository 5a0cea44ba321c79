import { expect } from 'chai';
import http from 'node:http';
import { Socket } from 'node:net';
import Koa from 'koa';
import { setSessionCookie, type SessionCookieOptions } from '../lib/cookie.js';
import type { SessionContext } from '../lib/types.js';

function context(app: Koa, secure = false, preset?: string[]): SessionContext {
  const socket = new Socket();
  (socket as unknown as { encrypted: boolean }).encrypted = secure;
  const req = new http.IncomingMessage(socket);
  req.method = 'GET';
  req.url = '/';
  req.headers = { host: 'example.com' };
  const res = new http.ServerResponse(req);
  if (preset) res.setHeader('Set-Cookie', [...preset]);
  return app.createContext(req, res) as unknown as SessionContext;
}

function setCookies(ctx: SessionContext): string[] {
  const value = ctx.res.getHeader('Set-Cookie');
  return value === undefined ? [] : Array.isArray(value) ? value : [String(value)];
}

// setSessionCookie() builds the Set-Cookie headers itself; they must be exactly
// what ctx.cookies.set() writes, or it must leave the decision to ctx.cookies.set().
describe('setSessionCookie writes what ctx.cookies.set writes', () => {
  const app = new Koa();
  app.keys = ['key one', 'key two'];
  const now = Date.UTC(2030, 0, 2, 3, 4, 5, 600);
  const realNow = Date.now;
  before(() => {
    Date.now = () => now;
  });
  after(() => {
    Date.now = realNow;
  });

  const cases: Array<[string, SessionCookieOptions]> = [
    ['the defaults', { path: '/', httpOnly: true, overwrite: true, signed: true, maxAge: 86_400_000 }],
    ['no path (cookies defaults to /)', { httpOnly: true, signed: true, maxAge: 1000 }],
    ['an empty path', { path: '', signed: true }],
    ['expires', { expires: new Date(now + 5000), signed: true }],
    ['maxAge over expires', { maxAge: 2500, expires: new Date(now + 5000), signed: true }],
    ['maxAge 0', { maxAge: 0, signed: true }],
    ['domain, priority, sameSite, partitioned', { domain: 'Example.com', priority: 'High', sameSite: 'Lax', partitioned: true, signed: true }],
    ['sameSite true', { sameSite: true, signed: true }],
    ['sameSite none, httpOnly false, secure false', { sameSite: 'none', httpOnly: false, secure: false, signed: true }],
    ['unsigned', { path: '/app', signed: false, overwrite: true }],
  ];

  for (const [name, options] of cases) {
    for (const preset of [undefined, ['koa.sid=old; path=/', 'other=1; path=/', 'koa.sid.sig=old; path=/']]) {
      it(`${name}${preset ? ', with Set-Cookie headers already set' : ''}`, () => {
        const theirs = context(app, false, preset);
        theirs.cookies.set('koa.sid', 'abcDEF123-_', { ...options } as never);
        const ours = context(app, false, preset);
        const signature = options.signed ? (theirs.cookies as unknown as { keys: { sign(d: string): string } }).keys.sign('koa.sid=abcDEF123-_') : undefined;
        expect(setSessionCookie(ours, 'koa.sid', 'abcDEF123-_', signature, options)).to.equal(true);
        expect(setCookies(ours)).to.deep.equal(setCookies(theirs));
      });
    }
  }

  it('marks the cookie secure on an https request, as cookies does', () => {
    const theirs = context(app, true);
    theirs.cookies.set('koa.sid', 'abc', { signed: false });
    const ours = context(app, true);
    expect(setSessionCookie(ours, 'koa.sid', 'abc', undefined, { signed: false })).to.equal(true);
    expect(setCookies(ours)).to.deep.equal(setCookies(theirs));
    expect(setCookies(ours)[0]).to.include('; secure');
  });

  it('respects ctx.cookies.secure set by the app', () => {
    const theirs = context(app);
    theirs.cookies.secure = true;
    theirs.cookies.set('koa.sid', 'abc', { signed: false, secure: true });
    const ours = context(app);
    ours.cookies.secure = true;
    expect(setSessionCookie(ours, 'koa.sid', 'abc', undefined, { signed: false, secure: true })).to.equal(true);
    expect(setCookies(ours)).to.deep.equal(setCookies(theirs));
  });

  const refused: Array<[string, SessionCookieOptions, string]> = [
    ['a secure cookie over http', { secure: true }, 'abc'],
    ['an invalid path', { path: '/a;b' }, 'abc'],
    ['an invalid domain', { domain: 'exa mple.com' }, 'abc'],
    ['an invalid sameSite', { sameSite: 'sometimes' }, 'abc'],
    ['an invalid priority', { priority: 'urgent' }, 'abc'],
    ['an infinite maxAge', { maxAge: Infinity }, 'abc'],
    ['a string maxAge', { maxAge: '1000' }, 'abc'],
    ['expires that is no Date', { expires: '2030-01-01' }, 'abc'],
    ['a value with ;', {}, 'a;b'],
  ];
  for (const [name, options, value] of refused) {
    it(`leaves ${name} to ctx.cookies.set, writing nothing`, () => {
      const ctx = context(app);
      expect(setSessionCookie(ctx, 'koa.sid', value, undefined, options)).to.equal(false);
      expect(setCookies(ctx)).to.deep.equal([]);
    });
  }

  it('leaves a replaced ctx.cookies to itself', () => {
    const ctx = context(app);
    const calls: unknown[] = [];
    Object.defineProperty(ctx, 'cookies', { value: { set: (...args: unknown[]) => calls.push(args) } });
    expect(setSessionCookie(ctx, 'koa.sid', 'abc', undefined, {})).to.equal(false);
    expect(setCookies(ctx)).to.deep.equal([]);
  });
});
