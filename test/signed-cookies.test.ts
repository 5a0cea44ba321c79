import { expect } from 'chai';
import request from 'supertest';
import { createRequire } from 'node:module';
import { MemoryStore, app, cookieValue, setCookies } from './support/app.js';
import { sign } from './support/hostile.js';
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

/**
 * A browser's cookie jar, as far as these tests need one: cookies keyed by
 * name and path, sent longest path first, deleted by a past expiry, and
 * `restart()` drops the ones without Expires (session cookies).
 */
class BrowserJar {
  readonly #cookies = new Map<string, { name: string; value: string; path: string; expires: number | undefined }>();

  take(res: { headers: Record<string, unknown> }): void {
    for (const line of setCookies(res)) {
      const [pair, ...attributes] = line.split(/; */) as [string, ...string[]];
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      let path = '/';
      let expires: number | undefined;
      for (const attribute of attributes) {
        const [attr, value = ''] = attribute.split('=');
        if (attr!.toLowerCase() === 'path') path = value;
        if (attr!.toLowerCase() === 'expires') expires = Date.parse(value);
      }
      const id = name + ';' + path;
      if (expires !== undefined && expires <= Date.now()) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value: pair.slice(eq + 1), path, expires });
    }
  }

  header(requestPath: string): string {
    return [...this.#cookies.values()]
      .filter((c) => requestPath === c.path || requestPath.startsWith(c.path.endsWith('/') ? c.path : c.path + '/'))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  restart(): void {
    for (const [id, c] of this.#cookies) if (c.expires === undefined) this.#cookies.delete(id);
  }
}

describe('key rotation (app.keys = [newKey, oldKey])', () => {
  const COOKIE = { maxAge: 86_400_000, sameSite: 'lax', path: '/app', domain: 'example.test', secure: true } as const;

  function rotatingApp(cookie: Record<string, unknown> = COOKIE, options: Record<string, unknown> = {}) {
    const koa = new Koa();
    koa.proxy = true;
    koa.silent = true;
    koa.keys = ['old key'];
    const errors: unknown[] = [];
    koa.on('error', (err) => errors.push(err));
    koa.use(session({ store: new MemoryStore(), cookie, ...options }));
    koa.use((ctx) => {
      if (ctx.path.endsWith('/login')) ctx.session!.user = 'ann';
      if (ctx.path.endsWith('/visit')) ctx.session!.visits = ((ctx.session!.visits as number | undefined) ?? 0) + 1;
      ctx.body = { user: ctx.session!.user ?? null };
    });
    return { koa, errors };
  }

  async function get(koa: Koa, jar: BrowserJar, path: string) {
    const res = await request(koa.callback()).get(path).set('X-Forwarded-Proto', 'https').set('Cookie', jar.header(path));
    jar.take(res);
    return res;
  }

  /** A Set-Cookie line's attributes, the expiry date left out. */
  const attributes = (line: string) =>
    line
      .split('; ')
      .slice(1)
      .map((a) => (/^expires=/.test(a) ? 'expires' : a))
      .sort();

  it('the re-signed .sig cookie carries the session cookie\'s attributes', async () => {
    const { koa, errors } = rotatingApp();
    const jar = new BrowserJar();
    const login = await get(koa, jar, '/app/login');
    const sessionLine = setCookies(login).find((l) => l.startsWith('koa.sid='))!;
    koa.keys = ['new key', 'old key'];
    const res = await get(koa, jar, '/app/');
    expect(res.body.user).to.equal('ann');
    const lines = setCookies(res);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^koa\.sid\.sig=/);
    expect(lines[0]).to.not.equal(setCookies(login).find((l) => l.startsWith('koa.sid.sig=')));
    expect(attributes(lines[0]!)).to.deep.equal(attributes(sessionLine));
    expect(attributes(lines[0]!)).to.deep.equal(['domain=example.test', 'expires', 'httponly', 'path=/app', 'samesite=lax', 'secure']);
    expect(errors).to.deep.equal([]);
  });

  for (const changed of [false, true]) {
    it(`the user stays signed in across a browser restart and the old key's removal (${changed ? 'a request that saves' : 'a read-only request'})`, async () => {
      const { koa } = rotatingApp();
      const jar = new BrowserJar();
      expect((await get(koa, jar, '/app/login')).body.user).to.equal('ann');
      koa.keys = ['new key', 'old key'];
      expect((await get(koa, jar, changed ? '/app/visit' : '/app/')).body.user).to.equal('ann');
      jar.restart();
      koa.keys = ['new key'];
      expect((await get(koa, jar, '/app/')).body.user).to.equal('ann');
    });
  }

  it('with rolling, the rewritten cookies replace the re-signed one (overwrite): one .sig line, with the attributes', async () => {
    const { koa } = rotatingApp({ maxAge: 3_600_000 }, { rolling: true });
    const jar = new BrowserJar();
    await get(koa, jar, '/login');
    koa.keys = ['new key', 'old key'];
    const res = await get(koa, jar, '/');
    const sigLines = setCookies(res).filter((l) => l.startsWith('koa.sid.sig='));
    expect(sigLines).to.have.length(1);
    expect(attributes(sigLines[0]!)).to.deep.equal(['expires', 'httponly', 'path=/', 'secure']);
    jar.restart();
    koa.keys = ['new key'];
    expect((await get(koa, jar, '/')).body.user).to.equal('ann');
  });

  it('a session stored without cookie options: the .sig gets the configured ones', async () => {
    const store = new MemoryStore();
    const { koa, errors } = rotatingApp(COOKIE, { store });
    const sid = 'storedwithoutcookie000000';
    store.set('koa:sess:' + sid, { user: 'ann' } as never, 60_000);
    koa.keys = ['new key', 'old key'];
    const jar = new BrowserJar();
    const res = await request(koa.callback())
      .get('/app/')
      .set('X-Forwarded-Proto', 'https')
      .set('Cookie', `koa.sid=${sid}; koa.sid.sig=${sign('koa.sid', sid, 'old key')}`);
    jar.take(res);
    expect(res.status, res.text).to.equal(200);
    expect(res.body.user).to.equal('ann');
    expect(setCookies(res)).to.have.length(1);
    expect(attributes(setCookies(res)[0]!)).to.deep.equal(['domain=example.test', 'expires', 'httponly', 'path=/app', 'samesite=lax', 'secure']);
    expect(errors).to.deep.equal([]);
  });

  it('with a Keygrip instance as app.keys', async () => {
    const require = createRequire(import.meta.url);
    const Keygrip = require('keygrip') as new (keys: string[]) => object;
    const { koa } = rotatingApp();
    koa.keys = new Keygrip(['old key']) as unknown as string[];
    const jar = new BrowserJar();
    await get(koa, jar, '/app/login');
    koa.keys = new Keygrip(['new key', 'old key']) as unknown as string[];
    const res = await get(koa, jar, '/app/');
    expect(res.body.user).to.equal('ann');
    expect(attributes(setCookies(res)[0]!)).to.include.members(['expires', 'path=/app', 'samesite=lax']);
    jar.restart();
    koa.keys = new Keygrip(['new key']) as unknown as string[];
    expect((await get(koa, jar, '/app/')).body.user).to.equal('ann');
  });

  it('a session cookie cookies cannot write on this request (secure over http) is re-signed as cookies does, without a 500', async () => {
    const { koa, errors } = rotatingApp({ secure: true, maxAge: 60_000 });
    const jar = new BrowserJar();
    await get(koa, jar, '/login');
    koa.keys = ['new key', 'old key'];
    const res = await request(koa.callback()).get('/').set('Cookie', jar.header('/'));
    expect(res.status).to.equal(200);
    expect(res.body.user).to.equal('ann');
    expect(setCookies(res)).to.have.length(1);
    expect(attributes(setCookies(res)[0]!)).to.deep.equal(['httponly', 'path=/']);
    expect(errors).to.deep.equal([]);
  });
});
