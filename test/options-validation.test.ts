import { expect } from 'chai';
import session, { MemoryStore, type SessionOptions, type SessionStore } from '../lib/index.js';

const noop = (): void => {};
const store = { get: noop, set: noop, destroy: noop };

/** Values of the wrong type or range for each option; each must fail at setup, naming the option. */
const BAD: Record<keyof SessionOptions, unknown[]> = {
  key: ['', 'a b', 'a;b', 'a=b', 'caf\u00e9', 'a\r\nb', 42, true, {}, []],
  prefix: [42, true, {}, [], Symbol('x')],
  store: ['redis', 42, true, {}, { get: noop, set: noop }, { get: 1, set: noop, destroy: noop }],
  ttl: [-1, -Infinity, NaN, Infinity, '1000', true, {}, []],
  rolling: ['false', 'true', 0, 1, {}],
  defer: ['false', 'true', 0, 1, {}],
  allowEmpty: ['false', 0, 1, {}],
  genSid: ['uid', 42, {}, true],
  errorHandler: ['log', 42, {}, true],
  valid: [true, 'yes', {}],
  beforeSave: [1, 'x', {}],
  sessionIdStore: ['header', 42, {}, { get: noop, set: noop }],
  cookie: ['path=/', 42, true, [], new Date(), new (class Options { path = '/'; })()],
  reconnectTimeout: [0, -1, NaN, Infinity, -Infinity, '1000', true, {}],
  degraded: ['true', 1, {}],
  merge: ['true', 0, {}],
  owner: ['userId', 42, {}, true],
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
};

/** Values that look odd but are valid: setup must accept them. */
const GOOD: SessionOptions[] = [
  {},
  { key: 'my-session_1.id' },
  { prefix: '' },
  { store: new MemoryStore() },
  { store: Object.assign(() => {}, store) as unknown as SessionStore },
  { ttl: 0 },
  { ttl: 1000 },
  { ttl: () => null },
  { reconnectTimeout: 1 },
  { rolling: true, defer: true, allowEmpty: true, degraded: true },
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

/** The option names the validator knows, from its own "unknown option" message. */
function knownOptions(options: SessionOptions): string[] {
  try {
    session(options);
  } catch (err) {
    const list = /known options are (.+)$/.exec((err as Error).message);
    if (list) return list[1]!.split(', ');
  }
  throw new Error('no "known options" list in the unknown-option error');
}

describe('option validation at setup', () => {
  it('every option the validator knows has wrong values tested here', () => {
    expect(Object.keys(BAD)).to.have.members(knownOptions({ zzz: 1 } as SessionOptions));
    expect(Object.keys(BAD_COOKIE)).to.have.members(knownOptions({ cookie: { zzz: 1 } } as SessionOptions));
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
    expect(() => session({ cookie: { path: 42 } } as never)).to.throw(TypeError, /cookie: option "path" .* got number 42$/);
    expect(() => session({ store: { get: noop } } as never)).to.throw(TypeError, /missing: set, destroy/);
    expect(() => session({ cookie: [] } as never)).to.throw(TypeError, /got an array$/);
  });

  for (const name of ['maxAge', 'Store', 'reconnect_timeout', 'httpOnly', 'secret', '__proto__', 'constructor']) {
    it(`an unknown top-level option "${name}" is a TypeError naming it and listing the known ones`, () => {
      const options = JSON.parse(`{${JSON.stringify(name)}: 1}`) as SessionOptions;
      expect(() => session(options))
        .to.throw(TypeError)
        .with.property('message')
        .that.includes(`unknown option "${name}"`)
        .and.includes('reconnectTimeout');
    });
  }

  for (const name of ['maxAgeSeconds', 'httponly', 'SameSite', 'originalMaxAge', '__proto__']) {
    it(`an unknown cookie option "${name}" is a TypeError naming it`, () => {
      const options = { cookie: JSON.parse(`{${JSON.stringify(name)}: true}`) } as SessionOptions;
      expect(() => session(options)).to.throw(TypeError).with.property('message').that.includes(`cookie: unknown option "${name}"`);
    });
  }

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

  it('a failed setup changes nothing shared: Object.prototype stays clean after __proto__ options', () => {
    expect(() => session(JSON.parse('{"__proto__":{"polluted":true}}') as SessionOptions)).to.throw(TypeError);
    expect(() => session({ cookie: JSON.parse('{"__proto__":{"polluted":true}}') } as SessionOptions)).to.throw(TypeError);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
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
