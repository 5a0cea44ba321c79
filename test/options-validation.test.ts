import { expect } from 'chai';
import { createRequire } from 'node:module';
import Koa from 'koa';
import request from 'supertest';
import session, { MemoryStore, type SessionOptions, type SessionStore } from '../lib/index.js';
import { setCookies } from './support/app.js';
import { warningsDuring } from './support/warnings.js';

const require = createRequire(import.meta.url);
/** The `cookies` module Koa sets cookies with: its Cookie constructor is the reference for names. */
const { Cookie } = require('cookies') as { Cookie: new (name: string, value: string) => unknown };

const noop = (): void => {};
const store = { get: noop, set: noop, destroy: noop };

/** Values of the wrong type or range for each option; each must fail at setup, naming the option. */
const BAD: Record<keyof SessionOptions, unknown[]> = {
  key: ['', 'a;b', 'a=b', 'a\r\nb', 'a\u0000b', 'a\u007fb', 'a\u0100b', 'caf\u00e9\u2603', 42, true, {}, []],
  prefix: [42, true, {}, [], Symbol('x')],
  store: ['redis', 42, true, Symbol('store')],
  ttl: [-1, -Infinity, NaN, Infinity, '1000', true, {}, []],
  rolling: ['false', 'true', 0, 1, {}, [], { renewAfter: 0 }, { renewAfter: -1 }, { renewAfter: '60000' }, { renewAfter: Infinity }, { renewAfter: 1000, touchAfter: 1000 }],
  defer: ['false', 'true', 0, 1, {}],
  allowEmpty: ['false', 0, 1, {}],
  genSid: ['uid', 42, {}, true],
  errorHandler: ['log', 42, {}, true],
  valid: [true, 'yes', {}],
  beforeSave: [1, 'x', {}],
  sessionIdStore: ['header', 42, {}, { get: noop, set: noop }],
  cookie: ['path=/', 42, true, [], new Date(), new (class Options { path = '/'; })()],
  reconnectTimeout: [0, -1, NaN, Infinity, -Infinity, '1000', true, {}],
  storeTimeout: [0, -1, NaN, Infinity, -Infinity, '1000', true, {}],
  degraded: ['true', 1, {}],
  merge: ['true', 0, {}],
  owner: ['userId', 42, {}, true],
  absoluteTimeout: [0, -1, NaN, Infinity, '3600000', true, {}],
  hashIds: ['true', 1, [], { secret: '' }, { secret: 42 }, { migrate: 'yes' }, { salt: 'x' }, { secret: 'x', migrate: true, keys: [] }],
  handleKey: ['', 42, true, {}, Buffer.from('secret')],
  describe: ['userAgent', 42, {}, true],
  maxSessionsPerOwner: [0, -1, 1.5, NaN, Infinity, '3', true, {}],
};

const BAD_COOKIE: Record<string, unknown[]> = {
  maxAge: [-1, NaN, Infinity, -Infinity, '1000', true, {}],
  maxage: [-1, NaN, Infinity, '1000'],
  expires: ['tomorrow', new Date(NaN), 1234, {}],
  path: [42, '', 'api', '/a;b', '/a\nb', '/a\u0000b', null],
  domain: ['a b', 'a;b', 42, '', 'exa\u00e9mple.com'],
  secure: ['true', 1],
  httpOnly: ['false', 0],
  sameSite: ['bogus', 'Strict ', 1],
  signed: ['false', 0],
  overwrite: ['yes', 1],
  priority: ['urgent', 1],
  partitioned: ['yes', 1],
  rewrite: ['yes', 1],
  secureProxy: ['yes', 1],
};

/** Values that look odd but are valid: setup must accept them. */
const GOOD: SessionOptions[] = [
  {},
  { key: 'my-session_1.id' },
  // koa-generic-session's own test suites use this one; cookies and browsers take a colon
  { key: 'koss:test_sid' },
  { key: 'my sid' },
  { key: 'caf\u00e9' },
  { key: '__Host-sid', cookie: { secure: true } },
  // cookies marks it Secure on https requests, as it did under koa-generic-session
  { key: '__Host-sid' },
  { key: '__Secure-sid' },
  { key: '__Secure-sid', cookie: { secure: true, path: '/api', domain: 'example.com' } },
  { key: '__Secure-sid', cookie: { secureProxy: true } },
  { key: 'x__Host-sid' },
  { prefix: '' },
  { store: new MemoryStore() },
  { store: Object.assign(() => {}, store) as unknown as SessionStore },
  { ttl: 0 },
  { ttl: 1000 },
  { ttl: () => null },
  { reconnectTimeout: 1 },
  { storeTimeout: 1 },
  { rolling: true, defer: true, allowEmpty: true, degraded: true },
  { rolling: false },
  { rolling: { renewAfter: 60_000 }, absoluteTimeout: 8 * 3_600_000 },
  { rolling: { renewAfter: 0.5 }, absoluteTimeout: 1 },
  { hashIds: true },
  { hashIds: false },
  { hashIds: {} },
  { hashIds: { secret: 'a long random secret', migrate: true } },
  { hashIds: { migrate: false } },
  { cookie: { maxAge: null } },
  { cookie: { maxAge: 0 } },
  { cookie: { maxage: 1000 } },
  { cookie: { sameSite: 'strict' } },
  { cookie: { sameSite: false } },
  { cookie: { expires: new Date(Date.now() + 60_000) } },
  { cookie: { domain: 'example.com', path: '/api' } },
  { cookie: { signed: false, secure: true, priority: 'high', partitioned: true } },
  // the defaults block of koa-generic-session 1.x's README lists rewrite: true
  { cookie: { rewrite: true } },
  // top-level null means "default", as koa-generic-session's `||` did
  { key: null, store: null, cookie: null, reconnectTimeout: null } as unknown as SessionOptions,
  { cookie: { maxAge: undefined } },
];

function describeValue(value: unknown): string {
  if (typeof value === 'symbol') return value.toString();
  if (value instanceof Date) return 'a Date';
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype) return 'a class instance';
  return JSON.stringify(value) ?? String(value);
}

/** The option names the validator knows, from the list its unknown-option warning gives. */
async function knownOptions(options: SessionOptions): Promise<string[]> {
  const [warning] = await warningsDuring(() => session(options));
  const list = /known (?:cookie )?options: (.+)$/.exec(warning?.message ?? '');
  if (list) return list[1]!.split(', ');
  throw new Error('no "known options" list in the unknown-option warning');
}

describe('option validation at setup', () => {
  it('every option the validator knows has wrong values tested here', async () => {
    expect(Object.keys(BAD)).to.have.members(await knownOptions({ zzzListOfOptions: 1 } as SessionOptions));
    expect(Object.keys(BAD_COOKIE)).to.have.members(await knownOptions({ cookie: { zzzListOfOptions: 1 } } as SessionOptions));
  });

  for (const [name, values] of Object.entries(BAD)) {
    for (const value of values) {
      it(`${name}: ${describeValue(value)} is a TypeError naming "${name}"`, () => {
        expect(() => session({ [name]: value } as SessionOptions))
          .to.throw(TypeError)
          .with.property('message')
          .that.includes(`option "${name}" must be`);
      });
    }
  }

  for (const [name, values] of Object.entries(BAD_COOKIE)) {
    for (const value of values) {
      it(`cookie.${name}: ${describeValue(value)} is a TypeError naming "${name}"`, () => {
        expect(() => session({ cookie: { [name]: value } } as SessionOptions))
          .to.throw(TypeError)
          .with.property('message')
          .that.matches(new RegExp(`^session\\(\\) cookie: option "${name}" must be .+, got `));
      });
    }
  }

  it('says what arrived: the type and, for primitives, the value', () => {
    expect(() => session({ defer: 'false' } as never)).to.throw(TypeError, 'option "defer" must be a boolean, got the string "false"');
    expect(() => session({ reconnectTimeout: NaN })).to.throw(TypeError, 'option "reconnectTimeout" must be a finite number of ms above 0, got number NaN');
    expect(() => session({ ttl: -5 })).to.throw(TypeError, /option "ttl" must be .*, got number -5$/);
    expect(() => session({ rolling: { renewAfter: 0 } })).to.throw(TypeError, 'option "rolling" must be a boolean, or { renewAfter: ms } (a finite number of ms above 0); renewAfter is number 0, got object');
    expect(() => session({ rolling: { renewAfter: 1, every: 2 } } as never)).to.throw(TypeError, /unknown key "every", got object$/);
    expect(() => session({ hashIds: { secret: '' } })).to.throw(TypeError, 'option "hashIds" must be a boolean, or { secret?: string, migrate?: boolean }; secret must be a non-empty string, and is the string "", got object');
    expect(() => session({ cookie: { path: 42 } } as never)).to.throw(TypeError, /cookie: option "path" .* got number 42$/);
    expect(() => session({ cookie: [] } as never)).to.throw(TypeError, /got an array$/);
  });

  for (const value of ['options', 42, true, [], () => {}, new (class Options {})()]) {
    it(`session(${describeValue(value) ?? typeof value}) is a TypeError: options must be a plain object`, () => {
      expect(() => session(value as never)).to.throw(TypeError, /^session\(\) takes an options object, got /);
    });
  }

  GOOD.forEach((options, i) => {
    it(`accepts valid options #${i + 1}: ${JSON.stringify(options)}`, () => {
      const middleware = session(options);
      expect(middleware).to.be.a('function');
      expect(middleware.status).to.equal('available');
    });
  });

  it('__proto__ options are ignored: Object.prototype and the cookie options stay clean', async () => {
    const warnings = await warningsDuring(() => {
      session(JSON.parse('{"__proto__":{"polluted":true}}') as SessionOptions);
      const koa = new Koa();
      koa.keys = ['k'];
      koa.use(session({ cookie: JSON.parse('{"__proto__":{"httpOnly":false,"domain":"evil.example"},"maxAge":5000}') } as SessionOptions));
      koa.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = 'ok';
      });
      return request(koa.callback()).get('/').then((res) => {
        const [line] = setCookies(res);
        expect(line).to.match(/; httponly$/);
        expect(line).to.not.include('domain');
      });
    });
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(({} as Record<string, unknown>).domain).to.equal(undefined);
    expect(warnings.map((w) => w.message)).to.include.members([
      'session(): unknown option "__proto__" is ignored; known options: ' + Object.keys(BAD).join(', '),
    ]);
  });
});

describe('other setup-time options', () => {
  for (const value of [0, -1, NaN, Infinity, '1000']) {
    it(`MemoryStore sweepInterval ${describeValue(value)} is a TypeError naming it`, () => {
      expect(() => new MemoryStore({ sweepInterval: value as number })).to.throw(TypeError, /sweepInterval/);
    });
  }

  for (const value of [-1, NaN, '100']) {
    it(`close({ timeout: ${describeValue(value)} }) is a TypeError naming "timeout"`, () => {
      const middleware = session();
      expect(() => middleware.close({ timeout: value as number })).to.throw(TypeError, /"timeout"/);
    });
  }
});

describe('cookie names: exactly those the cookies module can set', () => {
  /** Whether cookies@0.9 takes `name`: its Cookie constructor throws "argument name is invalid" otherwise. */
  const cookiesTakes = (name: string): boolean => {
    try {
      new Cookie(name, 'v');
      return true;
    } catch {
      return false;
    }
  };
  const accepts = (name: string): boolean => {
    try {
      session({ key: name });
      return true;
    } catch (err) {
      expect((err as Error).message).to.match(/^session\(\) options: option "key" must be a cookie name the cookies module can set/);
      return false;
    }
  };

  it('each character U+0000..U+017F, U+2028, U+FEFF and a lone surrogate, alone and inside a name, as cookies decides', () => {
    const chars: string[] = [];
    for (let c = 0; c <= 0x17f; c++) chars.push(String.fromCharCode(c));
    chars.push('\u2028', '\ufeff', '\ud800');
    const disagreements = chars
      .flatMap((c) => [c, `a${c}b`])
      .filter((name) => accepts(name) !== cookiesTakes(name))
      .map((name) => JSON.stringify(name));
    expect(disagreements).to.deep.equal([]);
    // not vacuous: cookies takes tab, space and visible ASCII but ";" and "=", and U+0080..U+00FF
    expect(chars.filter((c) => cookiesTakes(`a${c}b`))).to.have.length(1 + (0x7e - 0x20 + 1 - 2) + (0xff - 0x80 + 1));
  });

  it('an accepted name signs too: cookies takes name + ".sig"', () => {
    for (const name of ['koss:test_sid', 'my sid', 'caf\u00e9', '\t']) {
      expect(accepts(name)).to.equal(true);
      expect(cookiesTakes(name + '.sig')).to.equal(true);
    }
  });

  for (const name of ['koss:test_sid', 'my sid', 'sid(1)+[x]', 'koa.sid.sig']) {
    it(`${JSON.stringify(name)}: a signed session is set, read back and kept`, async () => {
      const koa = new Koa();
      koa.keys = ['names key'];
      koa.use(session({ key: name }));
      koa.use((ctx) => {
        ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
        ctx.body = { n: ctx.session!.n };
      });
      const first = await request(koa.callback()).get('/');
      const lines = setCookies(first);
      expect(lines.map((l) => l.slice(0, l.indexOf('=')))).to.deep.equal([name, name + '.sig']);
      const cookie = lines.map((l) => l.split(';')[0]).join('; ');
      const second = await request(koa.callback()).get('/').set('Cookie', cookie);
      expect(second.body).to.deep.equal({ n: 2 });
    });
  }
});

describe('__Host- and __Secure- names: the prefix rules are checked at setup', () => {
  const cases: Array<[SessionOptions, RegExp]> = [
    [{ key: '__Host-sid', cookie: { secure: false } }, /set cookie\.secure to true \(or leave it unset: cookies then marks it Secure on https requests\)$/],
    [{ key: '__Host-sid', cookie: { secureProxy: false, secure: true } }, /set cookie\.secure to true/],
    [{ key: '__Host-sid', cookie: { secure: true, path: '/api' } }, /set cookie\.path to '\/'$/],
    [{ key: '__Host-sid', cookie: { secure: true, domain: 'example.com' } }, /remove cookie\.domain/],
    [{ key: '__Host-sid', cookie: { secure: false, path: '/a', domain: 'example.com' } }, /set cookie\.secure to true .*, set cookie\.path to '\/', remove cookie\.domain$/],
    [{ key: '__Host-sid', cookie: { domain: 'example.com' } }, /"__Host-" cookie unless it is Secure, with Path=\/ and no Domain: remove cookie\.domain$/],
    [{ key: '__Secure-sid', cookie: { secure: false } }, /"__Secure-" cookie unless it is Secure: set cookie\.secure to true/],
    // browsers match the prefixes in any case (RFC 6265bis), so a case variant is held to them too
    [{ key: '__host-sid', cookie: { secure: true, path: '/api' } }, /"__host-" cookie unless it is Secure, with Path=\/ and no Domain/],
    [{ key: '__SECURE-sid', cookie: { secure: false } }, /"__SECURE-" cookie unless it is Secure/],
  ];
  for (const [options, message] of cases) {
    it(`${JSON.stringify(options)} is a TypeError saying what to set`, () => {
      expect(() => session(options))
        .to.throw(TypeError)
        .with.property('message')
        .that.matches(/^session\(\) options: option "key" is "__/)
        .and.matches(message);
    });
  }

  for (const cookie of [{ secure: true }, {}]) {
    it(`a valid __Host- session, cookie ${JSON.stringify(cookie)}, over https: Secure, Path=/ and no Domain on both cookies`, async () => {
      const koa = new Koa();
      koa.keys = ['k'];
      koa.proxy = true;
      koa.use(session({ key: '__Host-sid', cookie }));
      koa.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = 'ok';
      });
      const res = await request(koa.callback()).get('/').set('X-Forwarded-Proto', 'https');
      const lines = setCookies(res);
      expect(lines).to.have.length(2);
      for (const line of lines) {
        expect(line).to.match(/^__Host-sid(\.sig)?=[^;]+; path=\/; expires=[^;]+; secure; httponly$/);
      }
    });
  }
});
