import { expect } from 'chai';
import Koa from 'koa';
import session, { type SessionContext, type SessionStore } from '../lib/index.js';
import { RecordingStore } from './support/stores.js';
import { listen, pollution, rawGet, setCookiePairs, sign, signedPair, type Listening, type RawResponse } from './support/hostile.js';

const KEY = 'test key one';
const PREFIX = 'koa:sess:';
const NAME = 'koa.sid';

/** Whether the middleware would pass this id to the store at all (1-256 printable ASCII). */
function usable(id: string): boolean {
  return /^[\x21-\x7e]{1,256}$/.test(id);
}

interface Ids {
  alice: string;
  bob: string;
  aliceSig: string;
  bobSig: string;
}

interface Case {
  name: string;
  /** Raw bytes (latin1) of the Cookie header; undefined sends none. */
  cookie: (ids: Ids) => string | undefined;
  /** The un-prefixed id the store may be asked about besides ids the server issued. */
  reaches?: (ids: Ids) => string;
  /** Node answers before the app runs: the request never reaches the middleware. */
  node?: 400 | 431;
  /** Not a fresh session: the user whose session this cookie validly names. */
  user?: 'bob';
  /** The server must also send a Set-Cookie that clears the forged `.sig`. */
  clearsSig?: boolean;
  /** Serve with Node's header limit raised to 256 KB. */
  bigHeaders?: boolean;
}

const HOSTILE_IDS = [
  '*',
  '?',
  '[',
  ']',
  '{',
  '}',
  'a*b?c[d]{e}',
  '../',
  '../../etc/passwd',
  '..%2F..%2F',
  '%0D%0A',
  '\\r\\n',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  `${PREFIX}x`,
  'x'.repeat(256),
  'x'.repeat(257),
  'a b',
  'a\tb',
  'caf\u00e9',
  Buffer.from('café✓', 'utf8').toString('latin1'), // UTF-8 bytes, as Node reads them (latin1)
];

/** Cases where the id is exactly what the client chose; signed mode signs it with the app's own key. */
function idCases(signed: boolean): Case[] {
  const cookieFor = (id: string) => (signed ? signedPair(NAME, id, KEY) : `${NAME}=${id}`);
  // the id travels as chosen (signed with the app's key in signed mode): usable ids reach the store verbatim
  const idCase = (name: string, id: (ids: Ids) => string): Case => ({
    name,
    cookie: (ids) => cookieFor(id(ids)),
    reaches: (ids) => (usable(id(ids)) ? id(ids) : ''),
  });
  const cases: Case[] = HOSTILE_IDS.map((id) =>
    idCase(`id ${JSON.stringify(id.length > 40 ? id.slice(0, 12) + `…(${id.length})` : id)}`, () => id),
  );
  cases.push(
    idCase('a prefix of another user\'s id', ({ alice }) => alice.slice(0, 12)),
    idCase('another user\'s id plus a suffix', ({ alice }) => alice + 'x'),
    idCase('another user\'s id in other case', ({ alice }) => alice.toUpperCase()),
    idCase('another user\'s id with the prefix repeated', ({ alice }) => PREFIX + alice),
    idCase('a 4 KB value', () => 'a'.repeat(4096)),
    { name: 'a 64 KB value under Node\'s default 16 KB header limit', cookie: () => cookieFor('a'.repeat(65536)), node: 431 },
    { name: 'a 64 KB value with maxHeaderSize raised', cookie: () => cookieFor('a'.repeat(65536)), bigHeaders: true },
    { name: 'a control byte \\x01', cookie: () => cookieFor('a\x01b'), node: 400 },
    { name: 'DEL \\x7f', cookie: () => cookieFor('a\x7fb'), node: 400 },
    { name: 'NUL', cookie: () => cookieFor('a\x00b'), node: 400 },
    { name: 'a bare CR', cookie: () => cookieFor('a\rb'), node: 400 },
    { name: 'a bare LF', cookie: () => cookieFor('a\nb'), node: 400 },
    // CRLF ends the Cookie header: the rest becomes another request header, the id is what came before
    {
      name: 'CRLF inside the value',
      cookie: () => (signed ? `${NAME}=ab\r\nX-Injected: 1; ${NAME}.sig=${sign(NAME, 'ab\r\nX-Injected: 1', KEY)}` : `${NAME}=ab\r\nX-Injected: 1`),
      ...(signed ? {} : { reaches: () => 'ab' }),
    },
    // raw bytes 0x80-0xff: Node decodes them as latin1
    idCase('non-ASCII bytes', () => '\u00ff\u00fe\u0080abc'),
    { name: 'an empty value', cookie: () => `${NAME}=` },
    { name: 'an empty quoted value', cookie: () => `${NAME}=""; ${NAME}.sig=` },
    { name: 'a lone quote', cookie: () => `${NAME}="` },
    { name: 'a name without "="', cookie: () => NAME },
    { name: 'only separators', cookie: () => ';;; ;=;=' },
    { name: 'an empty Cookie header', cookie: () => '' },
    { name: 'no Cookie header', cookie: () => undefined },
    { name: 'a name that merely ends with the cookie name', cookie: ({ alice, aliceSig }) => `x${NAME}=${alice}; x${NAME}.sig=${aliceSig}` },
    { name: 'the cookie name in other case', cookie: ({ alice, aliceSig }) => `KOA.SID=${alice}; KOA.SID.sig=${aliceSig}` },
    { name: 'a space before "="', cookie: ({ alice, aliceSig }) => `${NAME} =${alice}; ${NAME}.sig =${aliceSig}` },
  );
  return cases;
}

/** Cases about the signature itself: only meaningful when cookies are signed. */
function signatureCases(): Case[] {
  return [
    { name: 'another user\'s id with no signature', cookie: ({ alice }) => `${NAME}=${alice}` },
    { name: 'a wrong signature of the right length', cookie: ({ alice }) => `${NAME}=${alice}; ${NAME}.sig=${'A'.repeat(27)}`, clearsSig: true },
    { name: 'a truncated signature', cookie: ({ alice, aliceSig }) => `${NAME}=${alice}; ${NAME}.sig=${aliceSig.slice(0, 20)}`, clearsSig: true },
    { name: 'an over-long signature', cookie: ({ alice, aliceSig }) => `${NAME}=${alice}; ${NAME}.sig=${aliceSig}AA`, clearsSig: true },
    { name: 'an empty signature', cookie: ({ alice }) => `${NAME}=${alice}; ${NAME}.sig=` },
    { name: 'a signature made with a key the app does not have', cookie: ({ alice }) => signedPair(NAME, alice, 'attacker key'), clearsSig: true },
    { name: 'one user\'s id with another user\'s signature', cookie: ({ alice, bobSig }) => `${NAME}=${alice}; ${NAME}.sig=${bobSig}`, clearsSig: true },
    {
      name: 'a valid signature for another cookie name on the session cookie',
      cookie: ({ alice }) => `${NAME}=${alice}; ${NAME}.sig=${sign('remember', alice, KEY)}`,
      clearsSig: true,
    },
    { name: 'another cookie validly signed with the session id', cookie: ({ alice }) => signedPair('remember', alice, KEY) },
    { name: 'a signature cookie alone', cookie: ({ aliceSig }) => `${NAME}.sig=${aliceSig}` },
    {
      name: 'duplicated names: id of one user, then id and signature of another',
      cookie: ({ alice, bob, bobSig }) => `${NAME}=${alice}; ${NAME}=${bob}; ${NAME}.sig=${bobSig}`,
      clearsSig: true,
    },
    {
      name: 'duplicated names: a signature of one user before another user\'s pair',
      cookie: ({ aliceSig, bob, bobSig }) => `${NAME}.sig=${aliceSig}; ${NAME}=${bob}; ${NAME}.sig=${bobSig}`,
      clearsSig: true,
    },
    {
      // the client holds both valid pairs; the first one wins, as in `cookies`, and the pairs never mix
      name: 'duplicated names: two valid pairs',
      cookie: ({ alice, aliceSig, bob, bobSig }) => `${NAME}=${bob}; ${NAME}.sig=${bobSig}; ${NAME}=${alice}; ${NAME}.sig=${aliceSig}`,
      user: 'bob',
    },
  ];
}

for (const signed of [true, false]) {
  describe(`hostile session cookies (${signed ? 'signed' : 'unsigned'})`, () => {
    let store: RecordingStore;
    let issued: Set<string>;
    let errors: Error[];
    let normal: Listening;
    let big: Listening;
    const ids = { alice: '', bob: '', aliceSig: '', bobSig: '' };
    let aliceJson = '';

    before(async () => {
      store = new RecordingStore();
      issued = new Set();
      errors = [];
      const koa = new Koa();
      koa.keys = [KEY, 'test key two'];
      koa.silent = true;
      koa.on('error', (err: Error) => errors.push(err));
      koa.use(
        session({
          store,
          cookie: { signed },
          genSid(this: SessionContext, length: number) {
            const sid = `srv${issued.size}x`.padEnd(length, 'z');
            issued.add(sid);
            return sid;
          },
        }),
      );
      koa.use((ctx) => {
        const s = ctx.session!;
        if (ctx.path === '/login') s.user = ctx.query.user;
        s.visits = ((s.visits as number | undefined) ?? 0) + 1;
        ctx.body = { sid: ctx.sessionId, user: s.user ?? null, visits: s.visits, injected: ctx.get('x-injected') };
      });
      normal = await listen(koa);
      big = await listen(koa, { maxHeaderSize: 256 * 1024 });
      const login = async (user: string) => {
        const res = await rawGet(normal.port, `/login?user=${user}`, undefined);
        const pairs = setCookiePairs(res);
        return { sid: pairs.get(NAME) as string, sig: pairs.get(`${NAME}.sig`) ?? '' };
      };
      const a = await login('alice');
      const b = await login('bob');
      Object.assign(ids, { alice: a.sid, aliceSig: a.sig, bob: b.sid, bobSig: b.sig });
      aliceJson = store.data.get(PREFIX + ids.alice) as string;
      expect(JSON.parse(aliceJson).user).to.equal('alice');
    });

    after(async () => {
      await normal.close();
      await big.close();
    });

    const cases = signed ? [...signatureCases(), ...idCases(true)] : idCases(false);
    const send = (c: Case): Promise<RawResponse> => {
      const header = c.cookie(ids);
      return rawGet((c.bigHeaders ? big : normal).port, '/', header === undefined ? undefined : Buffer.from(header, 'latin1'));
    };
    for (const c of cases) {
      it(`${c.name}: ${c.node ? `Node answers ${c.node} before the app` : c.user ? 'the first valid pair, never a mix' : 'a fresh session'}`, async () => {
        const before = store.calls.length;
        const errorsBefore = errors.length;
        const res = await send(c);
        const calls = store.calls.slice(before);
        const reaches = c.reaches?.(ids) || undefined;
        expect(errors.slice(errorsBefore), 'errors emitted by the app').to.deep.equal([]);
        if (c.node !== undefined) {
          expect(res.status).to.equal(c.node);
          expect(calls, 'store calls').to.deep.equal([]);
          return;
        }
        expect(res.status, res.body).to.equal(200);
        const body = JSON.parse(res.body) as { sid: string; user: string | null; visits: number };
        if (c.user === 'bob') {
          expect(body).to.include({ sid: ids.bob, user: 'bob' });
        } else {
          expect(body.user, 'user').to.equal(null);
          expect(body.visits, 'a new session').to.equal(1);
          expect([ids.alice, ids.bob]).to.not.include(body.sid);
          expect(issued.has(body.sid), 'the id was issued by the server').to.equal(true);
        }
        // the store only ever sees prefixed keys: server-issued ids, and the client's id verbatim when it is usable
        for (const call of calls) {
          expect(call.key!.startsWith(PREFIX), `store key ${JSON.stringify(call.key)}`).to.equal(true);
          const id = call.key!.slice(PREFIX.length);
          if (call.op === 'get') {
            expect(issued.has(id) || id === reaches, `get of ${JSON.stringify(call.key)}`).to.equal(true);
          } else {
            expect(call.op).to.equal('set');
            expect(id).to.equal(body.sid);
          }
        }
        if (reaches !== undefined) {
          expect(calls.filter((call) => call.op === 'get').map((call) => call.key)).to.deep.equal([PREFIX + reaches]);
        }
        // the response never echoes what the client sent into a Set-Cookie
        const pairs = setCookiePairs(res);
        const sidOut = pairs.get(NAME);
        if (sidOut !== undefined && sidOut !== '' && c.user === undefined) expect(sidOut).to.equal(body.sid);
        for (const [name, value] of pairs) {
          expect(name).to.be.oneOf([NAME, `${NAME}.sig`]);
          expect(value).to.match(/^[A-Za-z0-9_-]*$/);
        }
        if (c.clearsSig) expect(pairs.get(`${NAME}.sig`), 'the forged signature is cleared or replaced').to.not.equal(undefined);
      });
    }

    it('every hostile cookie, one after another, leaves the other users\' sessions as they were, and Object.prototype clean', async () => {
      const before = store.calls.length;
      for (const c of cases) await send(c);
      expect(store.calls.length, 'the cases reached the store').to.be.above(before);
      expect(store.data.get(PREFIX + ids.alice)).to.equal(aliceJson);
      expect(JSON.parse(store.data.get(PREFIX + ids.bob) as string).user).to.equal('bob');
      for (const key of store.data.keys()) {
        expect(issued.has(key.slice(PREFIX.length)), `stored key ${key}`).to.equal(true);
      }
      expect(store.calls.every((call) => call.op !== 'destroy')).to.equal(true);
      expect(pollution()).to.deep.equal([]);
    });
  });
}

describe('hostile session ids with prefix "" and a store that indexes a plain object', () => {
  /** The naive store third parties write: `this.sessions[key]`, so `__proto__` names Object.prototype. */
  class ObjectStore {
    sessions: Record<string, unknown> = {};
    gets: string[] = [];
    get(key: string): unknown {
      this.gets.push(key);
      return this.sessions[key];
    }
    set(key: string, session: unknown): void {
      this.sessions[key] = JSON.parse(JSON.stringify(session));
    }
    destroy(key: string): void {
      delete this.sessions[key];
    }
  }

  for (const id of ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__']) {
    it(`koa.sid=${id}: a fresh session, no hang, no 500, no pollution`, async () => {
      const store = new ObjectStore();
      const koa = new Koa();
      koa.keys = [KEY];
      koa.silent = true;
      const errors: Error[] = [];
      koa.on('error', (err: Error) => errors.push(err));
      const middleware = session({ store: store as unknown as SessionStore, prefix: '', cookie: { signed: false } });
      const invalid: string[] = [];
      middleware.on('invalid', ({ reason }) => invalid.push(reason));
      koa.use(middleware);
      koa.use((ctx) => {
        const s = ctx.session!;
        s.polluted = 'yes';
        s.isAdmin = true;
        ctx.body = { sid: ctx.sessionId, keys: Object.keys(s) };
      });
      const server = await listen(koa);
      try {
        // the store answers a function (Object, Object.prototype.toString...): the adapter must not call it as a thunk
        const res = await rawGet(server.port, '/', `koa.sid=${id}`, 2000);
        expect(errors.map((e) => e.message)).to.deep.equal([]);
        expect(res.status).to.equal(200);
        const body = JSON.parse(res.body) as { sid: string; keys: string[] };
        expect(body.sid).to.not.equal(id);
        expect(body.keys).to.have.members(['cookie', 'polluted', 'isAdmin']);
        // either the id never reaches the store, or what comes back (Object.prototype, a function) is refused
        expect(store.gets.length === 0 || invalid.length === 1, 'store not asked, or the invalid event').to.equal(true);
        expect(pollution()).to.deep.equal([]);
        expect(Object.keys(store.sessions)).to.deep.equal([body.sid]);
      } finally {
        await server.close();
      }
    });
  }
});
