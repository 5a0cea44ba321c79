import { expect } from 'chai';
import { once } from 'node:events';
import Koa from 'koa';
import Koa2 from 'koa2';
import { createRequire } from 'node:module';
import request from 'supertest';
import session, { MemoryStore, type Session, type SessionStore } from '../lib/index.js';
import { RedisStore } from '../lib/store/redis.js';
import { pollution, sign } from './support/hostile.js';
import { RedisServer } from './support/redis.js';
import { RecordingStore } from './support/stores.js';

const SID = 'storedsessionid0000000000';
const KEY = 'koa:sess:' + SID;

function nested(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 0; i < depth; i++) node = node.a = {};
  return root;
}

/** A store that answers `get` with whatever the case makes, and records writes. */
class HostileStore implements SessionStore {
  writes: Array<{ op: string; key: string }> = [];
  constructor(private readonly make: () => unknown) {}
  get(): never {
    return this.make() as never;
  }
  set(key: string): void {
    this.writes.push({ op: 'set', key });
  }
  destroy(key: string): void {
    this.writes.push({ op: 'destroy', key });
  }
  touch(key: string): void {
    this.writes.push({ op: 'touch', key });
  }
}

/** `fields` copied onto an object without prototype. */
function bare(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, fields);
}

/** A null-prototype object with an own `__proto__` key, as a store's own parser may build it. */
function withOwnProto(enumerable: boolean): object {
  return Object.defineProperty(Object.create(null) as object, '__proto__', { value: { polluted: 'yes' }, enumerable });
}

interface Case {
  name: string;
  value: () => unknown;
}

/** Store answers that are not a usable session: each must give a fresh session and the `invalid` event. */
const REFUSED: Case[] = [
  { name: 'a string that is not JSON', value: () => 'not json {' },
  { name: 'JSON text instead of an object', value: () => '{"user":"alice","cookie":{}}' },
  { name: 'a number', value: () => 42 },
  { name: 'true', value: () => true },
  { name: 'an empty array', value: () => [] },
  { name: 'an array holding a session', value: () => [{ user: 'alice', cookie: {} }] },
  { name: 'a Buffer', value: () => Buffer.from('{"user":"alice"}') },
  { name: 'a Date', value: () => new Date() },
  { name: 'a Map', value: () => new Map([['user', 'alice']]) },
  { name: 'a class instance', value: () => new (class Stored { user = 'alice'; cookie = {}; })() },
  { name: 'an own __proto__ key', value: () => JSON.parse('{"user":"alice","cookie":{},"__proto__":{"polluted":"yes","isAdmin":true}}') },
  { name: 'an own __proto__ key inside cookie', value: () => JSON.parse('{"user":"alice","cookie":{"__proto__":{"polluted":"yes"}}}') },
  { name: 'constructor.prototype at the top', value: () => JSON.parse('{"user":"alice","cookie":{},"constructor":{"prototype":{"polluted":"yes"}}}') },
  { name: 'constructor.prototype inside cookie', value: () => JSON.parse('{"user":"alice","cookie":{"constructor":{"prototype":{"polluted":"yes"}}}}') },
  { name: '__proto__ deep inside a field', value: () => JSON.parse('{"user":"alice","cookie":{},"profile":{"prefs":[{"__proto__":{"polluted":"yes"}}]}}') },
  { name: 'constructor.prototype deep inside a field', value: () => JSON.parse('{"user":"alice","cookie":{},"a":{"b":{"constructor":{"prototype":{"isAdmin":true}}}}}') },
  { name: 'constructor.prototype inside an array', value: () => JSON.parse('{"user":"alice","cookie":{},"a":[1,{"constructor":{"prototype":{"isAdmin":true}}}]}') },
  { name: 'an own __proto__ key in a nested null-prototype object', value: () => ({ user: 'alice', cookie: {}, a: { b: withOwnProto(true) } }) },
  { name: 'a non-enumerable own __proto__ key deep inside', value: () => ({ user: 'alice', cookie: {}, a: [withOwnProto(false)] }) },
  { name: 'Object.prototype itself', value: () => Object.prototype },
  { name: 'Object.prototype deep inside', value: () => ({ user: 'alice', cookie: {}, a: { b: Object.prototype } }) },
  { name: 'a string as cookie', value: () => ({ user: 'alice', cookie: 'path=/' }) },
  { name: 'an array as cookie', value: () => ({ user: 'alice', cookie: [] }) },
  { name: 'an unparsable cookie.expires', value: () => ({ user: 'alice', cookie: { expires: 'someday' } }) },
  { name: 'an object as cookie.expires', value: () => ({ user: 'alice', cookie: { expires: {} } }) },
  { name: 'an out-of-range cookie.expires', value: () => ({ user: 'alice', cookie: { expires: 1e20 } }) },
  { name: 'a string as cookie.maxAge', value: () => ({ user: 'alice', cookie: { maxAge: 'a day' } }) },
  { name: 'CRLF in cookie.path', value: () => ({ user: 'alice', cookie: { path: '/\r\nSet-Cookie: evil=1' } }) },
  { name: 'a number as cookie.path', value: () => ({ user: 'alice', cookie: { path: 42 } }) },
  { name: 'an invalid cookie.domain', value: () => ({ user: 'alice', cookie: { domain: 'a b;c' } }) },
  { name: 'an unknown cookie.sameSite', value: () => ({ user: 'alice', cookie: { sameSite: 'sometimes' } }) },
  { name: 'an unknown cookie.priority', value: () => ({ user: 'alice', cookie: { priority: 'urgent' } }) },
  { name: 'a string as cookie.httpOnly', value: () => ({ user: 'alice', cookie: { httpOnly: 'no' } }) },
  { name: 'a cycle', value: () => { const s: Record<string, unknown> = { user: 'alice', cookie: {} }; s.self = s; return s; } },
  { name: 'a getter that throws', value: () => ({ user: 'alice', cookie: {}, get boom(): never { throw new Error('getter'); } }) },
  { name: 'a toJSON that throws', value: () => ({ user: 'alice', cookie: {}, toJSON(): never { throw new Error('toJSON'); } }) },
  { name: 'a BigInt', value: () => ({ user: 'alice', cookie: {}, n: 10n }) },
  { name: 'nesting 10,000 deep', value: () => ({ user: 'alice', cookie: {}, deep: nested(10_000) }) },
  { name: 'nesting 100,000 deep', value: () => ({ user: 'alice', cookie: {}, deep: nested(100_000) }) },
];

/** Unusual but harmless answers: the session is served as stored. */
const ACCEPTED: Case[] = [
  { name: 'no cookie field', value: () => ({ user: 'alice' }) },
  { name: 'cookie null', value: () => ({ user: 'alice', cookie: null }) },
  { name: 'an 8 MB value', value: () => ({ user: 'alice', cookie: {}, blob: 'x'.repeat(8 << 20) }) },
  { name: 'nesting 1,000 deep', value: () => ({ user: 'alice', cookie: {}, deep: nested(1000) }) },
  { name: 'a field named prototype', value: () => ({ user: 'alice', cookie: {}, prototype: { polluted: 'yes' } }) },
  { name: 'a field named constructor holding a string', value: () => ({ user: 'alice', cookie: {}, constructor: 'x' }) },
  { name: 'a null-prototype object', value: () => Object.assign(Object.create(null) as object, { user: 'alice', cookie: {} }) },
  { name: 'null-prototype objects at every depth', value: () => bare({ user: 'alice', cookie: bare({ path: '/' }), a: bare({ b: [bare({ c: 1 })] }) }) },
  { name: 'a field named constructor holding an object without prototype', value: () => ({ user: 'alice', cookie: {}, constructor: { name: 'x' } }) },
  { name: 'an expires in the JSON string form', value: () => ({ user: 'alice', cookie: { expires: new Date(Date.now() + 60_000).toJSON() } }) },
];

const VARIANTS = [
  { name: 'read only', rolling: false, write: false },
  { name: 'written', rolling: false, write: true },
  { name: 'read only, rolling', rolling: true, write: false },
] as const;

function appFor(store: SessionStore, rolling: boolean, write: boolean) {
  const koa = new Koa();
  koa.keys = ['test key one'];
  koa.silent = true;
  const errors: Error[] = [];
  koa.on('error', (err: Error) => errors.push(err));
  const middleware = session({ store, rolling, cookie: { signed: false } });
  const invalid: string[] = [];
  middleware.on('invalid', ({ reason }) => invalid.push(reason));
  koa.use(middleware);
  koa.use((ctx) => {
    const s = ctx.session as Session;
    if (write) s.written = true;
    ctx.body = { sid: ctx.sessionId, user: s.user ?? null, fields: Object.keys(s).sort() };
  });
  return { koa, errors, invalid };
}

/** A failed case must not leave pollution behind for the next ones to trip over. */
function cleanPollution(): void {
  for (const name of pollution()) delete (Object.prototype as Record<string, unknown>)[name];
}

describe('hostile data from a store that returns objects', () => {
  afterEach(cleanPollution);

  for (const c of REFUSED) {
    for (const v of VARIANTS) {
      it(`${c.name} (${v.name}): a fresh session, the invalid event, no pollution, no 500`, async () => {
        const store = new HostileStore(c.value);
        const { koa, errors, invalid } = appFor(store, v.rolling, v.write);
        const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
        expect(errors.map((e) => e.message.slice(0, 120)), 'app errors').to.deep.equal([]);
        expect(res.status).to.equal(200);
        expect(res.body.user).to.equal(null);
        expect(res.body.sid).to.not.equal(SID);
        expect(res.body.fields).to.deep.equal(v.write ? ['cookie', 'written'] : ['cookie']);
        expect(invalid, 'invalid events').to.have.length(1);
        expect(pollution()).to.deep.equal([]);
        // nothing is written under the refused id
        expect(store.writes.filter((w) => w.key === KEY)).to.deep.equal([]);
      });
    }
  }

  for (const c of ACCEPTED) {
    for (const v of VARIANTS) {
      it(`${c.name} (${v.name}): served as stored, no 500`, async () => {
        const store = new HostileStore(c.value);
        const { koa, errors, invalid } = appFor(store, v.rolling, v.write);
        const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
        expect(errors.map((e) => e.message.slice(0, 120)), 'app errors').to.deep.equal([]);
        expect(res.status).to.equal(200);
        expect(res.body).to.include({ sid: SID, user: 'alice' });
        expect(invalid).to.deep.equal([]);
        expect(pollution()).to.deep.equal([]);
      });
    }
  }
});

describe('hostile JSON held by MemoryStore (a store that parses text)', () => {
  afterEach(cleanPollution);

  // MemoryStore keeps JSON text; set() with what JSON.parse made plants these payloads as text
  const PAYLOADS: Array<{ name: string; text: string }> = [
    { name: 'a JSON string', text: '"alice"' },
    { name: 'a JSON number', text: '42' },
    { name: 'a JSON array', text: '[{"user":"alice","cookie":{}}]' },
    { name: '__proto__ at the top', text: '{"user":"alice","cookie":{},"__proto__":{"polluted":"yes"}}' },
    { name: '__proto__ deep inside a field', text: '{"user":"alice","cookie":{},"profile":{"prefs":[{"__proto__":{"polluted":"yes"}}]}}' },
    { name: '__proto__ inside cookie', text: '{"user":"alice","cookie":{"__proto__":{"polluted":"yes"}}}' },
    { name: 'constructor.prototype deep inside a field', text: '{"user":"alice","cookie":{},"a":{"b":{"constructor":{"prototype":{"isAdmin":true}}}}}' },
  ];
  for (const p of PAYLOADS) {
    it(`${p.name}: a fresh session, no pollution, no 500`, async () => {
      const store = new MemoryStore();
      store.set(KEY, JSON.parse(p.text) as Session, 60_000);
      const { koa, errors } = appFor(store, false, true);
      const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
      expect(errors.map((e) => e.message), 'app errors').to.deep.equal([]);
      expect(res.status).to.equal(200);
      expect(res.body.user).to.equal(null);
      expect(res.body.sid).to.not.equal(SID);
      expect(pollution()).to.deep.equal([]);
      // the new session went to its own id; the refused one stays untouched (it expires on its own)
      expect(store.get('koa:sess:' + (res.body.sid as string))).to.include({ written: true });
    });
  }

  it('an 8 MB session is read and written back', async () => {
    const store = new MemoryStore();
    store.set(KEY, { user: 'alice', cookie: {}, blob: 'x'.repeat(8 << 20) }, 60_000);
    const { koa, errors } = appFor(store, false, true);
    const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
    expect(errors).to.deep.equal([]);
    expect(res.body).to.include({ sid: SID, user: 'alice' });
    expect((store.get(KEY) as Session).blob).to.have.length(8 << 20);
  });
});

describe('hostile values in Redis (RedisStore)', () => {
  afterEach(cleanPollution);

  let redis: RedisServer;
  let store: RedisStore;
  const storeInvalid: string[] = [];

  before(async () => {
    redis = await RedisServer.start({ label: 'hostile' });
    store = new RedisStore({ url: redis.url });
    store.on('invalid', ({ reason }) => storeInvalid.push(reason));
    await once(store, 'connect');
  });
  after(async () => {
    await store.quit();
    await redis.remove();
  });

  // written with a raw connection, as another program (or an attacker with Redis access) would
  const VALUES: Array<{ name: string; text: string }> = [
    { name: 'text that is not JSON', text: 'not json {' },
    { name: 'a JSON string', text: '"alice"' },
    { name: 'a JSON number', text: '42' },
    { name: 'JSON null', text: 'null' },
    { name: 'a JSON array', text: '[{"user":"alice","cookie":{}}]' },
    { name: '__proto__ at the top', text: '{"user":"alice","cookie":{},"__proto__":{"polluted":"yes"}}' },
    { name: '__proto__ deep inside a field', text: '{"user":"alice","cookie":{},"a":[{"b":{"__proto__":{"polluted":"yes"}}}]}' },
    { name: '__proto__ inside cookie', text: '{"user":"alice","cookie":{"__proto__":{"polluted":"yes"}}}' },
    { name: 'constructor.prototype deep inside a field', text: '{"user":"alice","cookie":{},"a":{"constructor":{"prototype":{"isAdmin":true}}}}' },
    { name: 'a \\u-escaped __proto__ deep inside a field', text: '{"user":"alice","cookie":{},"a":{"b":{"\\u005f_proto__":{"polluted":"yes"}}}}' },
    { name: 'a \\u-escaped constructor.prototype inside an array', text: '{"user":"alice","cookie":{},"a":[{"constr\\u0075ctor":{"prot\\u006ftype":{"isAdmin":true}}}]}' },
    { name: 'CRLF in cookie.path', text: '{"user":"alice","cookie":{"path":"/\\r\\nSet-Cookie: evil=1"}}' },
    { name: 'an unknown cookie.sameSite', text: '{"user":"alice","cookie":{"sameSite":"sometimes"}}' },
    { name: 'nesting 10,000 deep', text: '{"user":"alice","cookie":{},"d":' + '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000) + '}' },
    { name: 'a 1 MB value of garbage', text: '\u0000\u00ff'.repeat(1 << 19) },
  ];
  for (const v of VALUES) {
    it(`${v.name}: a fresh session, one invalid event, no pollution, no 500`, async () => {
      await redis.command('SET', KEY, v.text);
      const before = storeInvalid.length;
      const { koa, errors, invalid } = appFor(store, false, true);
      const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
      expect(errors.map((e) => e.message.slice(0, 120)), 'app errors').to.deep.equal([]);
      expect(res.status).to.equal(200);
      expect(res.body.user).to.equal(null);
      expect(res.body.sid).to.not.equal(SID);
      expect(pollution()).to.deep.equal([]);
      // refused once, by RedisStore when the text is not a session or by the middleware when it cannot be
      // serialized; the middleware's listeners hear of it once either way (the store's event is forwarded)
      expect(storeInvalid.length - before, 'invalid events of the store').to.be.at.most(1);
      expect(invalid.length, 'invalid events of the middleware').to.equal(1);
      // the refused value is left alone; the new session went to its own key
      expect(await redis.command('GET', KEY)).to.equal(v.text);
      expect(await redis.command('EXISTS', 'koa:sess:' + String(res.body.sid))).to.equal(1);
    });
  }
});

describe('objects without prototype from a store reach the app as plain objects', () => {
  // what a store's own parser may build (secure-json-parse style, Object.create(null) maps)
  const stored = () =>
    bare({
      user: 'alice',
      cookie: bare({ path: '/', httpOnly: true, maxAge: 60_000, expires: new Date(Date.now() + 3_600_000).toJSON() }),
      profile: bare({ name: 'Alice', prefs: [bare({ theme: 'dark' }), [bare({ deep: true })]] }),
      since: new Date(0),
      tags: Object.setPrototypeOf(['a', bare({ b: 1 })], null) as unknown[],
    });

  /** Every object the app can reach from `value`, with where it sits. */
  function objects(value: unknown, path = 'session', out: Array<[string, unknown]> = []): Array<[string, unknown]> {
    if (value === null || typeof value !== 'object' || value instanceof Date) return out;
    out.push([path, value]);
    for (const [key, item] of Object.entries(value)) objects(item, `${path}.${key}`, out);
    return out;
  }

  function checkingApp(store: SessionStore) {
    const koa = new Koa();
    koa.keys = ['test key one'];
    koa.silent = true;
    const middleware = session({ store, cookie: { signed: false } });
    const invalid: string[] = [];
    middleware.on('invalid', ({ reason }) => invalid.push(reason));
    koa.use(middleware);
    koa.use(async (ctx) => {
      const s = ctx.session as Session;
      const fromStore = await ctx.sessionStore.get(SID);
      const prototypes = (root: unknown) =>
        objects(root).map(([path, o]) => [path, Object.getPrototypeOf(o) === (Array.isArray(o) ? Array.prototype : Object.prototype)]);
      ctx.body = {
        sid: ctx.sessionId,
        hasOwn: [
          s.hasOwnProperty('user'),
          s.cookie.hasOwnProperty('path'),
          (s.profile as Record<string, unknown>).hasOwnProperty('name'),
          ((s.profile as { prefs: Array<Record<string, unknown>> }).prefs[0] as Record<string, unknown>).hasOwnProperty('theme'),
        ],
        plain: prototypes(s),
        sessionStoreGet: prototypes(fromStore),
        since: s.since instanceof Date ? s.since.toISOString() : s.since,
        text: String(s.profile),
      };
    });
    return { koa, invalid };
  }

  const expected = [
    ['session', true],
    ['session.cookie', true],
    ['session.profile', true],
    ['session.profile.prefs', true],
    ['session.profile.prefs.0', true],
    ['session.profile.prefs.1', true],
    ['session.profile.prefs.1.0', true],
    ['session.tags', true],
    ['session.tags.1', true],
  ];

  it('from a store that returns objects: hasOwnProperty works at every depth, a Date stays a Date', async () => {
    const store = new HostileStore(stored);
    const { koa, invalid } = checkingApp(store);
    const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.deep.include({ sid: SID, hasOwn: [true, true, true, true], text: '[object Object]' });
    expect(res.body.plain).to.deep.equal(expected);
    expect(res.body.sessionStoreGet).to.deep.equal(expected);
    expect(res.body.since).to.equal('1970-01-01T00:00:00.000Z');
    expect(invalid).to.deep.equal([]);
  });

  it('leaves the object the store returned as it was (the store may share or freeze it)', async () => {
    const held = Object.freeze(stored());
    const store = new HostileStore(() => held);
    const { koa } = checkingApp(store);
    const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
    expect(res.status, res.text).to.equal(200);
    expect(res.body.plain).to.deep.equal(expected);
    expect(Object.getPrototypeOf(held)).to.equal(null);
    expect(Object.getPrototypeOf(held.profile)).to.equal(null);
    expect(typeof (held.cookie as Record<string, unknown>).expires).to.equal('string');
  });

  it('a frozen plain session with expires as a string is read (the Date is revived in a copy)', async () => {
    const cookie = Object.freeze({ path: '/', expires: new Date(Date.now() + 3_600_000).toJSON() });
    const store = new HostileStore(() => Object.freeze({ user: 'alice', cookie }));
    const koa = new Koa();
    koa.keys = ['test key one'];
    koa.silent = true;
    koa.use(session({ store, cookie: { signed: false } }));
    koa.use((ctx) => {
      ctx.body = { user: ctx.session!.user, expires: ctx.session!.cookie.expires instanceof Date };
    });
    const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.deep.equal({ user: 'alice', expires: true });
  });

  describe('from RedisStore with a serializer that builds them', () => {
    let redis: RedisServer;
    let store: RedisStore;
    const storeInvalid: string[] = [];
    const bareParse = (text: string): unknown =>
      JSON.parse(text, (_key, value: unknown) =>
        value !== null && typeof value === 'object' && !Array.isArray(value) ? bare(value as Record<string, unknown>) : value,
      );

    before(async () => {
      redis = await RedisServer.start({ label: 'hostile-bare' });
      store = new RedisStore({ url: redis.url, serializer: { stringify: JSON.stringify, parse: bareParse } });
      store.on('invalid', ({ reason }) => storeInvalid.push(reason));
      await once(store, 'connect');
    });
    after(async () => {
      await store.quit();
      await redis.remove();
    });
    afterEach(cleanPollution);

    it('hasOwnProperty works at every depth', async () => {
      await redis.command('SET', KEY, JSON.stringify(stored()));
      const { koa, invalid } = checkingApp(store);
      const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.deep.include({ sid: SID, hasOwn: [true, true, true, true] });
      expect(res.body.plain).to.deep.equal(expected);
      expect(invalid.concat(storeInvalid)).to.deep.equal([]);
    });

    it('a __proto__ deep inside is refused with the store\'s invalid event', async () => {
      await redis.command('SET', KEY, '{"user":"alice","cookie":{},"a":{"b":[{"__proto__":{"polluted":"yes"}}]}}');
      const before = storeInvalid.length;
      const { koa } = appFor(store, false, true);
      const res = await request(koa.callback()).get('/').set('Cookie', `koa.sid=${SID}`);
      expect(res.status).to.equal(200);
      expect(res.body.user).to.equal(null);
      expect(res.body.sid).to.not.equal(SID);
      expect(storeInvalid.length - before).to.equal(1);
      expect(pollution()).to.deep.equal([]);
    });
  });
});

describe('a stored session past its cookie.expires (a store without ttl, a clock behind)', () => {
  const requireCjs = createRequire(import.meta.url);
  const theirs = requireCjs('koa-generic-session') as (options?: object) => Koa2.Middleware;
  const past = () => new Date(Date.now() - 1000);
  const future = () => new Date(Date.now() + 3_600_000);

  /** Status, body and Set-Cookie of one request, ids and dates made comparable. */
  async function observe(
    impl: 'ours' | 'theirs',
    store: RecordingStore,
    cookie: string,
    options: Record<string, unknown> = {},
  ): Promise<{ status: number; body: unknown; setCookie: string[] }> {
    const koa = new Koa2();
    koa.keys = ['test key one'];
    koa.silent = true;
    let n = 0;
    const genSid = () => 'fresh' + ++n;
    koa.use((impl === 'ours' ? session : theirs)({ store, genSid, ...options }) as Koa2.Middleware);
    koa.use(async (ctx) => {
      const s = (options.defer ? await (ctx.session as unknown as Promise<Session>) : ctx.session) as Session;
      if (ctx.path === '/inc') s.n = ((s.n as number | undefined) ?? 0) + 1;
      ctx.body = { sid: ctx.sessionId, user: s.user ?? null, n: s.n ?? null };
    });
    const res = await request(koa.callback()).get(ctx0(cookie).path).set('Cookie', ctx0(cookie).cookie);
    const setCookie = ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? []);
    return {
      status: res.status,
      body: res.body,
      setCookie: setCookie.map((line) => line.replace(/expires=(?!Thu, 01 Jan 1970)[^;]+/, 'expires=<date>').replace(/\.sig=[^;]+/, '.sig=<sig>')),
    };
  }
  /** `path cookie` -> both parts. */
  function ctx0(step: string): { path: string; cookie: string } {
    const space = step.indexOf(' ');
    return { path: step.slice(0, space), cookie: step.slice(space + 1) };
  }
  const signed = (sid: string) => `koa.sid=${sid}; koa.sid.sig=${sign('koa.sid', sid, 'test key one')}`;

  function storeWith(cookie: Record<string, unknown>): RecordingStore {
    const store = new RecordingStore();
    store.data.set(KEY, JSON.stringify({ user: 'alice', n: 1, cookie: { httpOnly: true, path: '/', overwrite: true, signed: true, ...cookie } }));
    return store;
  }

  for (const [form, expires] of [['a Date', past], ['a string (a JSON round trip)', () => past().toJSON()]] as const) {
    for (const path of ['/', '/inc']) {
      it(`expires as ${form}, ${path}: a fresh session, the old key destroyed, answered as an unknown id is`, async () => {
        const store = new RecordingStore();
        const stored = { user: 'alice', n: 1, cookie: { httpOnly: true, path: '/', overwrite: true, signed: true, expires: expires() } };
        // a store that hands out objects, as it holds them (no JSON)
        store.get = async (key: string) => (key === KEY && store.data.has(KEY) ? (structuredClone(stored) as unknown as Session) : null);
        store.data.set(KEY, '{}');
        const ours = await observe('ours', store, `${path} ${signed(SID)}`);
        expect(ours.body).to.deep.equal({ sid: 'fresh1', user: null, n: path === '/inc' ? 1 : null });
        expect(store.calls.filter((c) => c.key === KEY).map((c) => c.op)).to.deep.equal(['destroy']);
        expect(store.data.has(KEY)).to.equal(false);
        // koa-generic-session 2.3.1 with a cookie that names no session: same status, body and cookies
        const unknown = await observe('theirs', new RecordingStore(), `${path} ${signed('nobody')}`);
        expect(ours).to.deep.equal(unknown);
      });
    }
  }

  it('in defer mode too', async () => {
    const store = storeWith({ expires: past() });
    const ours = await observe('ours', store, `/inc ${signed(SID)}`, { defer: true });
    expect(ours.body).to.deep.equal({ sid: 'fresh1', user: null, n: 1 });
    expect(store.data.has(KEY)).to.equal(false);
  });

  const served: Array<[string, Record<string, unknown>]> = [
    ['expires in the future, as a Date string', { expires: future().toJSON() }],
    ['maxAge null and no expires (a browser-session cookie)', { maxAge: null }],
    ['a maxAge and no expires', { maxAge: 60_000 }],
  ];
  for (const [title, cookie] of served) {
    for (const path of ['/', '/inc']) {
      it(`${title}, ${path}: served, and answered as koa-generic-session 2.3.1 answers`, async () => {
        const ourStore = storeWith(cookie);
        const theirStore = storeWith(cookie);
        const ours = await observe('ours', ourStore, `${path} ${signed(SID)}`);
        const theirs = await observe('theirs', theirStore, `${path} ${signed(SID)}`);
        expect(ours.body).to.deep.equal({ sid: SID, user: 'alice', n: path === '/inc' ? 2 : 1 });
        expect(ours).to.deep.equal(theirs);
        expect(ourStore.calls.map((c) => c.op)).to.deep.equal(theirStore.calls.map((c) => c.op));
      });
    }
  }

  it('with the owner option, the expired session leaves the owner index too (MemoryStore without ttl)', async () => {
    const store = new MemoryStore();
    const koa = new Koa();
    koa.keys = ['test key one'];
    koa.silent = true;
    const middleware = session({ store, owner: (s) => s.user as string | undefined });
    koa.use(middleware);
    koa.use((ctx) => {
      ctx.body = { user: ctx.session!.user ?? null };
    });
    store.set(KEY, { user: 'alice', cookie: { expires: past() } } as Session, undefined, { owner: 'alice' });
    expect(await middleware.listSessions('alice')).to.have.length(1);
    const res = await request(koa.callback()).get('/').set('Cookie', signed(SID));
    expect(res.body).to.deep.equal({ user: null });
    expect(store.get(KEY)).to.equal(null);
    expect(await middleware.listSessions('alice')).to.deep.equal([]);
  });
});
