import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import Koa from 'koa';
import request from 'supertest';
import session, { type Session, type SessionPatch } from '../lib/index.js';
import { applyPatch, diffJson, encodePatch, sessionChange } from '../lib/session.js';
import { RedisStore, RedisStoreTimeoutError, type RedisStoreInvalidValue, type RedisStoreOptions } from '../lib/store/redis.js';
import { RedisServer, stopAllRedis, waitFor } from './support/redis.js';
import { concurrencyApp, cookieOf, parallelChanges } from './support/merge-scenarios.js';
import { Gate } from './support/gate.js';


/** A small seeded PRNG (mulberry32), so a failing random case can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values Redis's cjson would change: [] becomes {}, numbers lose digits past 14, escapes are rewritten. */
const TRICKY: Record<string, unknown> = {
  emptyArray: [],
  emptyObject: {},
  nestedEmpties: { a: [[], {}, [[]], { b: [] }], c: { d: { e: {} } } },
  unicode: 'é 日本語 😀 \u0301e \u202e rtl \u2028\u2029',
  loneSurrogates: '\ud800 \udfff x\ud83d',
  control: '\u0000\u0001\b\f\n\r\t\u001f\u007f',
  quotes: 'say "hi" \\ back\\slash \\" }{ ][ ,: {"a":1} \\u0041',
  bigNumbers: [2 ** 53, -(2 ** 53) + 1, 1.2345678901234567e29, 0.1 + 0.2, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, -0],
  precise: 123456789.12345679,
  nulls: [null, { n: null }],
  booleans: [true, false],
  deep: { l1: { l2: { l3: { l4: ['x', { l5: [1, [2, [3, []]]] }] } } } },
  emptyString: '',
};

describe('RedisStore merge: concurrent requests on one session keep every change (real redis-server)', function () {
  let redis: RedisServer;
  let store: RedisStore;
  const stores: RedisStore[] = [];

  const open = async (options: RedisStoreOptions = {}) => {
    const s = new RedisStore({ url: redis.url, ...options });
    stores.push(s);
    await once(s, 'connect');
    return s;
  };
  const raw = async (key: string) => (await redis.command('GET', key)) as string | null;

  before(async () => {
    redis = await RedisServer.start({ label: 'merge' });
  });
  after(stopAllRedis);
  beforeEach(async () => {
    await redis.command('FLUSHALL');
    store = await open();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.quit()));
  });

  describe('through the middleware', () => {
    for (const n of [2, 10, 50]) {
      it(`${n} parallel requests on one session, each setting its own key: all kept`, async () => {
        const result = await parallelChanges({ store }, n);
        console.log(`      RedisStore, merge, ${n} parallel changes: ${result.kept} kept, ${result.lost} lost`);
        expect(result.lost).to.equal(0);
      });
    }

    it('a deleted key stays deleted while another request sets a different key', async () => {
      const gate = new Gate();
      const handler = concurrencyApp({ store }, gate).callback();
      const cookie = cookieOf(await request(handler).get('/login'));
      await request(handler).get('/set?k=x').set('Cookie', cookie);
      const both = Promise.all([
        request(handler).get('/del?k=x&hold=both').set('Cookie', cookie).then((r) => r),
        request(handler).get('/set?k=y&hold=both').set('Cookie', cookie).then((r) => r),
      ]);
      await gate.reached('both', 2);
      gate.open('both');
      await both;
      const final = (await request(handler).get('/').set('Cookie', cookie)).body as Record<string, unknown>;
      expect(final).to.not.have.property('x');
      expect(final).to.include({ y: true, user: 'ann' });
    });

    it('a session destroyed while a request was in flight is not resurrected by its late merge', async () => {
      const gate = new Gate();
      const handler = concurrencyApp({ store }, gate).callback();
      const cookie = cookieOf(await request(handler).get('/login'));
      expect(await redis.command('DBSIZE')).to.equal(1);
      const late = request(handler).get('/set?k=late&hold=late').set('Cookie', cookie).then((r) => r);
      await gate.reached('late');
      await request(handler).get('/logout').set('Cookie', cookie).expect(200);
      expect(await redis.command('DBSIZE')).to.equal(0);
      gate.open('late');
      const res = await late;
      expect(res.status).to.equal(200);
      expect(await redis.command('DBSIZE')).to.equal(0);
      // the late request clears the cookie of the session it found gone
      expect(cookieOf(res)).to.match(/^koa\.sid=;/);
    });

    it('a session that expired while a request was in flight is not resurrected', async () => {
      const gate = new Gate();
      const handler = concurrencyApp({ store }, gate).callback();
      const login = await request(handler).get('/login');
      const key = `koa:sess:${/koa\.sid=([^;]+)/.exec(cookieOf(login))![1]}`;
      const late = request(handler).get('/set?k=late&hold=late').set('Cookie', cookieOf(login)).then((r) => r);
      await gate.reached('late');
      // Redis expires the session while the request holds it
      expect(await redis.command('PEXPIRE', key, 1)).to.equal(1);
      await waitFor('the session to expire', async () => ((await redis.command('EXISTS', key)) === 0 ? true : undefined));
      gate.open('late');
      const res = await late;
      expect(res.body.user).to.equal('ann');
      expect(await redis.command('EXISTS', key)).to.equal(0);
      expect(await redis.command('DBSIZE')).to.equal(0);
    });

    it('two requests changing the same key: the last one to finish wins', async () => {
      const gate = new Gate();
      const handler = concurrencyApp({ store }, gate).callback();
      const cookie = cookieOf(await request(handler).get('/login'));
      const first = request(handler).get('/name?v=first&hold=first').set('Cookie', cookie).then((r) => r);
      const second = request(handler).get('/name?v=second&hold=second').set('Cookie', cookie).then((r) => r);
      await Promise.all([gate.reached('first'), gate.reached('second')]);
      gate.open('first');
      expect((await first).status).to.equal(200);
      gate.open('second');
      expect((await second).status).to.equal(200);
      expect((await request(handler).get('/').set('Cookie', cookie)).body.name).to.equal('second');
    });

    /**
     * An app whose /change waits on `gate` between loading the session and
     * changing it, so the test can write to the stored session meanwhile.
     */
    function gatedApp(options: Parameters<typeof session>[0]) {
      let release!: () => void;
      let reached!: () => void;
      const gate = { loaded: new Promise<void>((r) => (reached = r)), go: new Promise<void>((r) => (release = r)) };
      const app = new Koa();
      app.keys = ['merge test key'];
      app.use(session(options));
      app.use(async (ctx) => {
        const s = ctx.session!;
        if (ctx.path === '/login') s.user = 'ann';
        if (ctx.path === '/change') {
          reached();
          await gate.go;
          s.mine = true;
        }
        ctx.body = ctx.session;
      });
      return { handler: app.callback(), loaded: gate.loaded, release };
    }

    for (const [label, options, kept] of [
      ['merge (the default)', {}, true],
      ['merge: false', { merge: false }, false],
    ] as const) {
      it(`${label}: a key written by another request meanwhile is ${kept ? 'kept' : 'overwritten (whole-session save, last write wins)'}`, async () => {
        const { handler, loaded, release } = gatedApp({ store, ...options });
        const login = await request(handler).get('/login');
        const key = `koa:sess:${/koa\.sid=([^;]+)/.exec(cookieOf(login))![1]}`;
        const change = request(handler).get('/change').set('Cookie', cookieOf(login)).then((r) => r);
        await loaded;
        expect(await store.merge!(key, { set: { other: 'written meanwhile' }, unset: [] }, 60_000)).to.equal(true);
        release();
        expect((await change).status).to.equal(200);
        const stored = JSON.parse((await raw(key))!) as Record<string, unknown>;
        expect(stored).to.include({ user: 'ann', mine: true });
        if (kept) expect(stored.other).to.equal('written meanwhile');
        else expect(stored).to.not.have.property('other');
      });
    }

    it('a custom serializer: the store offers no merge(), so the middleware does whole-session saves', async () => {
      const custom = await open({ serializer: { stringify: (s) => 'v1:' + JSON.stringify(s), parse: (t) => JSON.parse(t.slice(3)) } });
      expect(custom.merge).to.equal(undefined);
      expect('merge' in custom).to.equal(false);
      expect(typeof store.merge).to.equal('function');
      const { handler, loaded, release } = gatedApp({ store: custom });
      const login = await request(handler).get('/login');
      const key = `koa:sess:${/koa\.sid=([^;]+)/.exec(cookieOf(login))![1]}`;
      const change = request(handler).get('/change').set('Cookie', cookieOf(login)).then((r) => r);
      await loaded;
      await redis.command('SET', key, 'v1:' + JSON.stringify({ ...JSON.parse((await raw(key))!.slice(3)), other: 1 }));
      release();
      expect((await change).status).to.equal(200);
      const stored = (await raw(key))!;
      expect(stored.startsWith('v1:')).to.equal(true);
      expect(JSON.parse(stored.slice(3))).to.include({ user: 'ann', mine: true }).and.not.have.property('other');
    });
  });

  /**
   * Runs `action` while watching the scripts `store` sends and what Redis
   * answers (on the client: Redis runs them as sent). `between` runs after
   * each answer, before the store sees it.
   */
  async function watchScripts(action: () => Promise<unknown>, between?: (reply: unknown) => Promise<void>) {
    const client = store.client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> };
    const evalsha = client.evalsha;
    const calls: Array<{ args: string[]; reply: unknown }> = [];
    client.evalsha = async (...args: unknown[]) => {
      const call = { args: args.map(String), reply: undefined as unknown };
      calls.push(call);
      call.reply = await evalsha.apply(store.client, args);
      await between?.(call.reply);
      return call.reply;
    };
    try {
      await action();
    } finally {
      client.evalsha = evalsha;
    }
    return calls;
  }

  describe('store.merge()', () => {
    const base = { cookie: { maxAge: 60_000, httpOnly: true, path: '/' }, user: 'ann' };

    it('returns false and writes nothing when the key does not exist (destroyed or expired)', async () => {
      expect(await store.merge!('koa:sess:gone', { set: { a: 1 }, unset: [] }, 60_000)).to.equal(false);
      expect(await redis.command('EXISTS', 'koa:sess:gone')).to.equal(0);
      await store.set('koa:sess:short', base as Session, 30);
      await waitFor('the key to expire', async () => ((await redis.command('EXISTS', 'koa:sess:short')) === 0 ? true : undefined));
      expect(await store.merge!('koa:sess:short', { set: { a: 1 }, unset: [] }, 60_000)).to.equal(false);
      expect(await redis.command('DBSIZE')).to.equal(0);
    });

    it('resets the ttl: PX with a ttl, no expiry without one; a ttl at or below 0 deletes', async () => {
      await store.set('koa:sess:t', base as Session, 5_000);
      expect(await store.merge!('koa:sess:t', { set: { a: 1 }, unset: [] }, 90_000)).to.equal(true);
      expect(Number(await redis.command('PTTL', 'koa:sess:t'))).to.be.within(89_000, 90_000);
      expect(await store.merge!('koa:sess:t', { set: { a: 2 }, unset: [] })).to.equal(true);
      expect(await redis.command('PTTL', 'koa:sess:t')).to.equal(-1);
      expect(JSON.parse((await raw('koa:sess:t'))!).a).to.equal(2);
      expect(await store.merge!('koa:sess:t', { set: { a: 3 }, unset: [] }, 0)).to.equal(true);
      expect(await redis.command('EXISTS', 'koa:sess:t')).to.equal(0);
      expect(await store.merge!('koa:sess:t', { set: { a: 3 }, unset: [] }, -5)).to.equal(false);
      expect(await redis.command('EXISTS', 'koa:sess:t')).to.equal(0);
    });

    /** Adds a member to a JSON object text, first or last, as text (the rest stays byte for byte). */
    const addMember = (text: string, member: string, first: boolean): string => {
      if (first) {
        const open = text.indexOf('{');
        const empty = /^\s*}/.test(text.slice(open + 1));
        return text.slice(0, open + 1) + member + (empty ? '' : ',') + text.slice(open + 1);
      }
      const close = text.lastIndexOf('}');
      const empty = /{\s*$/.test(text.slice(0, close));
      return text.slice(0, close) + (empty ? '' : ',') + member + text.slice(close);
    };

    /**
     * The ways a merge reaches the script. `loaded` is the text the request
     * reads (`long`: past the length the store sends as is), `held` what
     * Redis holds when the merge arrives (`raced`: another request added a
     * member meanwhile), `patch` what the store is given.
     */
    const PATHS = [
      {
        label: 'Redis holds the text the request loaded: the session is stored as the request sent it',
        seed: 20240611,
        long: false,
        raced: false,
        texts: true,
      },
      {
        label: 'another request wrote first: Redis answers what it holds, the patch is spliced onto it in Node and sent again',
        seed: 20240613,
        long: false,
        raced: true,
        texts: true,
      },
      {
        label: 'a long session that another request wrote first: the same, with SHA1s instead of the texts',
        seed: 20240614,
        long: true,
        raced: true,
        texts: true,
      },
      {
        label: 'a bare patch (no texts): Redis splices the patch in Lua',
        seed: 20240612,
        long: false,
        raced: false,
        texts: false,
      },
    ];

    for (const path of PATHS) {
      const loadedText = (text: string) => (path.long ? addMember(text, `"padding":"${'p'.repeat(3000)}"`, true) : text);
      const heldText = (loaded: string) => (path.raced ? addMember(loaded, '"raced":"by another request"', false) : loaded);
      /**
       * One merge as `path` sends it: the request loaded `text` and applies
       * `plain`. Resolves the stored text and what it should be: `plain`
       * applied in Node onto what Redis held.
       */
      const mergeVia = async (key: string, text: string, plain: SessionPatch) => {
        const loaded = loadedText(text);
        const held = heldText(loaded);
        await redis.command('SET', key, held);
        let patch: SessionPatch = plain;
        // the middleware's base is JSON.stringify of what it loaded
        const base = JSON.stringify(JSON.parse(loaded));
        if (path.texts) {
          const session = JSON.parse(loaded) as Record<string, unknown>;
          applyPatch(session, plain);
          patch = sessionChange(base, session as Session, false, JSON.stringify(session));
        }
        const calls = await watchScripts(() => store.merge!(key, patch, 60_000).then((ok) => expect(ok).to.equal(true)));
        // args: sha, 1 key, the key, op, deadline, px, member, stamp, 0 owner actions, then the merge's own:
        // the text it builds on (itself, or its SHA1 when long), the result, and the patch when sent
        const merge = (call: { args: string[] }) => ({ on: call.args[9], result: call.args[10], patch: call.args.length > 11 });
        const code = (call: { reply: unknown }) => (call.reply as unknown[])[0];
        const shown = (text: string) => (path.long || !text.startsWith('{') ? createHash('sha1').update(text).digest('hex') : text);
        if (!path.texts) {
          // a bare patch: Redis splices it
          expect(calls.map(merge)).to.deep.equal([{ on: '', result: '', patch: true }]);
          expect(code(calls[0]!)).to.equal(2);
        } else if (held === base) {
          // Redis holds what the request loaded: the session is stored as sent, in one round trip
          expect(calls.map(merge)).to.deep.equal([{ on: shown(base), result: patch.json, patch: false }]);
          expect(code(calls[0]!)).to.equal(1);
        } else {
          // another write came first: Redis answers what it holds, the patch is spliced onto it in Node
          expect(calls).to.have.length(2);
          expect(merge(calls[0]!)).to.deep.equal({ on: shown(base), result: patch.json, patch: false });
          expect(calls[0]!.reply).to.deep.equal([3, held]);
          expect(merge(calls[1]!)).to.include({ on: shown(held), patch: true });
          expect(code(calls[1]!)).to.equal(1);
        }
        const expected = JSON.parse(held) as Record<string, unknown>;
        applyPatch(expected, plain);
        return { stored: (await raw(key))!, expected: JSON.stringify(expected), held };
      };

      describe(path.label, () => {
        it('keeps every value byte for byte: each tricky value set by a patch, and left untouched by one', async () => {
          const key = 'koa:sess:fidelity';
          // set by the patch
          const first = await mergeVia(key, JSON.stringify(base), { set: { ...TRICKY }, unset: [] });
          expect(first.stored).to.equal(first.expected);
          expect(JSON.parse(first.stored).emptyArray).to.deep.equal([]);
          // untouched by the next patch: the bytes of every other member stay as they were
          const second = await mergeVia(key, JSON.stringify({ ...base, ...TRICKY }), { set: { user: 'bob' }, unset: ['precise'] });
          expect(second.stored).to.equal(second.expected);
          expect(second.stored).to.contain(JSON.stringify(TRICKY.nestedEmpties)).and.not.contain('"precise"');
          // and the session reads back equal
          const read = (await store.get(key)) as Record<string, unknown>;
          expect(JSON.stringify(read)).to.equal(second.expected);
        });

        it('member names with quotes, backslashes, braces, unicode and control characters are matched exactly', async () => {
          const key = 'koa:sess:names';
          const names = ['"', '\\', '}', '{"a":1}', 'é', '😀', '\ud800', '\n', '', ' ', 'a:b,c', '__proto__x'];
          const initial: Record<string, unknown> = {};
          names.forEach((n, i) => (initial[n] = i));
          const patch: SessionPatch = { set: Object.fromEntries(names.slice(0, 6).map((n) => [n, `new ${n}`])), unset: names.slice(6) };
          const result = await mergeVia(key, JSON.stringify({ cookie: {}, ...initial }), patch);
          expect(result.stored).to.equal(result.expected);
        });

        it('random sessions and patches (seeded): the stored bytes equal JSON.stringify of the patch applied in Node', async () => {
          const seed = path.seed;
          const rand = random(seed);
          const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
          const atoms = Object.values(TRICKY).flatMap((v) => (Array.isArray(v) ? [v, ...v] : [v]));
          const names = ['a', 'b', 'c', 'é', '😀', '"q"', 'x\\y', '{', '}', '[]', '', ' ', '\u0000', 'user', 'flash', '\ud800'];
          const value = (depth: number): unknown => {
            const r = rand();
            if (depth > 2 || r < 0.5) return pick(atoms);
            if (r < 0.75) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
            return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [pick(names), value(depth + 1)]));
          };
          for (let round = 0; round < 300; round++) {
            const key = `koa:sess:random${round % 7}`;
            const initial = Object.fromEntries(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => [pick(names), value(0)]));
            const patch: SessionPatch = { set: {}, unset: [] };
            for (let i = Math.floor(rand() * 5); i > 0; i--) patch.set[pick(names)] = value(0);
            for (let i = Math.floor(rand() * 3); i > 0; i--) patch.unset.push(pick(names));
            const result = await mergeVia(key, JSON.stringify(initial), patch);
            const context = `seed ${seed}, round ${round}: ${result.held} + ${JSON.stringify(patch)}`;
            expect(result.stored, context).to.equal(result.expected);
          }
        });

        it('JSON written by another program (whitespace, escaped names, duplicate names) merges to the same object', async () => {
          const key = 'koa:sess:foreign';
          const text = ' {\n  "cookie" : { "maxAge" : 1000 } ,\t"caf\\u00e9" : [ 1 , [] ] ,"x":1, "x" : 2,\r\n "keep" : "\\u0041\\/" }\n';
          const first = await mergeVia(key, text, { set: { café: 'set', x: 3 }, unset: [] });
          expect(JSON.parse(first.stored)).to.deep.equal(JSON.parse(first.expected));
          expect(JSON.parse(first.stored)).to.include({ café: 'set', x: 3, keep: 'A/' });
          // untouched members are copied as written, escapes included
          expect(first.stored).to.contain('"keep" : "\\u0041\\/"');
          const second = await mergeVia(key, first.stored, { set: {}, unset: ['café', 'x'] });
          expect(JSON.parse(second.stored)).to.deep.equal(JSON.parse(second.expected));
          expect(JSON.parse(second.stored)).to.not.have.any.keys('café', 'x');
        });

        it('a member JSON drops (undefined, a function, toJSON returning undefined) is deleted, as a whole-session save drops it', async () => {
          const when = new Date(0);
          const patch: SessionPatch = { set: { a: undefined, b: () => 1, c: { toJSON: () => undefined }, d: when }, unset: [] };
          const result = await mergeVia('koa:sess:dropped', JSON.stringify({ cookie: {}, a: 1, b: 2, c: 3, d: 4 }), patch);
          expect(result.stored).to.equal(result.expected);
          expect(JSON.parse(result.stored)).to.not.have.any.keys('a', 'b', 'c');
          expect(JSON.parse(result.stored).d).to.equal(when.toJSON());
        });
      });
    }

    it('the text diff (diffJson, encodePatch), 3,000 random sessions: what it sets and deletes rebuilds the new session exactly', () => {
      const rand = random(7);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
      const atoms = Object.values(TRICKY).flatMap((v) => (Array.isArray(v) ? [v, ...v] : [v]));
      const names = ['a', 'b', 'é', '"q"', 'x\\y', '{', '}', '', '\u0000', '\ud800', '1', '__proto__'];
      for (let round = 0; round < 3000; round++) {
        const initial = JSON.parse(
          JSON.stringify(Object.fromEntries(Array.from({ length: Math.floor(rand() * 6) }, () => [pick(names), pick(atoms)]))),
        ) as Record<string, unknown>;
        const before = JSON.stringify(initial);
        const plain: SessionPatch = { set: {}, unset: [] };
        for (let i = Math.floor(rand() * 4); i > 0; i--) plain.set[pick(names)] = pick(atoms);
        for (let i = Math.floor(rand() * 3); i > 0; i--) plain.unset.push(pick(names));
        const session = JSON.parse(before) as Record<string, unknown>;
        applyPatch(session, plain);
        const after = JSON.stringify(session);
        const all = rand() < 0.2;
        const change = sessionChange(before, session as Session, all, after);
        const context = `round ${round}: ${before} -> ${after}${all ? ' (forced)' : ''}`;
        // the text form, as RedisStore sends it, and the value form, as other stores read it, say the same
        const encoded = encodePatch(change);
        expect(encoded, context).to.deep.equal(diffJson(before, after, all));
        const rebuilt = JSON.parse(before) as Record<string, unknown>;
        applyPatch(rebuilt, change);
        expect(JSON.parse(JSON.stringify(rebuilt)), context).to.deep.equal(JSON.parse(after));
        expect(encodePatch({ set: change.set, unset: change.unset }), context).to.deep.equal(encoded);
        // only what differs is sent, unless the save is forced
        const beforeMembers = Object.keys(JSON.parse(before) as object);
        for (const [nameJson, valueJson] of encoded.set) {
          const name = JSON.parse(nameJson) as string;
          if (!all && beforeMembers.includes(name)) {
            expect(JSON.stringify((JSON.parse(before) as Record<string, unknown>)[name]), context).to.not.equal(valueJson);
          }
        }
        if (all) expect(encoded.set.length, context).to.equal(Object.keys(JSON.parse(after) as object).length);
      }
    });

    it('the middleware\'s patch: set and unset computed once, on first read; toJSON() gives all four as data', () => {
      const session = { cookie: {}, a: 1, b: { c: 2 } } as unknown as Session;
      const change = sessionChange(JSON.stringify({ cookie: {}, a: 0, gone: 1 }), session, false, JSON.stringify(session));
      expect(change.set).to.deep.equal({ a: 1, b: { c: 2 } });
      expect(change.unset).to.deep.equal(['gone']);
      expect(change.set).to.equal(change.set);
      expect(change.set.b).to.equal((session as Record<string, unknown>).b);
      expect(Object.keys(change.set)).to.deep.equal(['a', 'b']);
      expect(JSON.parse(JSON.stringify(change))).to.deep.equal({
        set: { a: 1, b: { c: 2 } },
        unset: ['gone'],
        base: JSON.stringify({ cookie: {}, a: 0, gone: 1 }),
        json: JSON.stringify(session),
      });
      // a forced save (saveSession()) sets every member
      const forced = sessionChange(JSON.stringify(session), session, true, JSON.stringify(session));
      expect(Object.keys(forced.set)).to.deep.equal(['cookie', 'a', 'b']);
      expect(encodePatch(forced).set.map(([name]) => name)).to.deep.equal(['"cookie"', '"a"', '"b"']);
    });

    it('Redis holds the loaded text: the whole session is stored as the request wrote it; else the patch is spliced in', async () => {
      const key = 'koa:sess:which-path';
      const loaded = JSON.stringify({ cookie: base.cookie, a: 1, b: 2 });
      // the request deleted a and set it again: same value, so no patch member, but it now comes last
      const session = { cookie: base.cookie, b: 2, a: 1 } as unknown as Session;
      await redis.command('SET', key, loaded);
      expect(await store.merge!(key, sessionChange(loaded, session, false, JSON.stringify(session)), 60_000)).to.equal(true);
      expect(await raw(key)).to.equal(JSON.stringify(session));
      // another writer got there first: its change is kept, the request's patch (empty) applied onto it
      const theirs = JSON.stringify({ cookie: base.cookie, a: 1, b: 2, c: 3 });
      await redis.command('SET', key, theirs);
      expect(await store.merge!(key, sessionChange(loaded, session, false, JSON.stringify(session)), 60_000)).to.equal(true);
      expect(await raw(key)).to.equal(theirs);
    });

    it('yet another write between the two tries: the second carries the patch and Redis splices it (no third try)', async () => {
      const key = 'koa:sess:third-writer';
      const loaded = JSON.stringify({ cookie: base.cookie, a: 1 });
      await redis.command('SET', key, JSON.stringify({ cookie: base.cookie, a: 1, b: 2 }));
      const session = { cookie: base.cookie, a: 1, mine: 3 } as unknown as Session;
      const calls = await watchScripts(
        async () => expect(await store.merge!(key, sessionChange(loaded, session, false, JSON.stringify(session)), 60_000)).to.equal(true),
        async (reply) => {
          if ((reply as unknown[])[0] === 3) await redis.command('SET', key, JSON.stringify({ cookie: base.cookie, a: 1, b: 2, c: 4 }));
        },
      );
      expect(calls.map((call) => (call.reply as unknown[])[0])).to.deep.equal([3, 2]);
      expect(await raw(key)).to.equal(JSON.stringify({ cookie: base.cookie, a: 1, b: 2, c: 4, mine: 3 }));
    });

    it('merges from two stores (two processes) on one session keep both changes, in either order', async () => {
      const other = await open();
      const key = 'koa:sess:two-processes';
      await store.set(key, base as Session, 60_000);
      const loadedByA = JSON.stringify(await store.get(key));
      const loadedByB = JSON.stringify(await other.get(key));
      const a = { ...(JSON.parse(loadedByA) as Session), mine: 1 };
      const b = JSON.parse(loadedByB) as Record<string, unknown>;
      delete b.user;
      b.theirs = 2;
      expect(await store.merge!(key, sessionChange(loadedByA, a, false, JSON.stringify(a)), 60_000)).to.equal(true);
      expect(await other.merge!(key, sessionChange(loadedByB, b as Session, false, JSON.stringify(b)), 60_000)).to.equal(true);
      expect(await store.merge!(key, { set: { again: 3 }, unset: [] }, 60_000)).to.equal(true);
      expect(await raw(key)).to.equal(JSON.stringify({ cookie: base.cookie, mine: 1, theirs: 2, again: 3 }));
    });

    it('a stored value that is not a JSON object: false, the invalid event, and the value left as it was', async () => {
      const invalid: RedisStoreInvalidValue[] = [];
      store.on('invalid', (info) => invalid.push(info));
      const loaded = JSON.stringify({ cookie: {}, a: 1 });
      const session = { cookie: {}, a: 2 } as unknown as Session;
      const texts = ['[1,2]', 'not json', '{"a":1', '{"a":1}}', '"text"', '{"a":[}', '{"a":{]}', '{"a":1,}'];
      const cases: Array<[string, SessionPatch, string[]]> = [
        ['a bare patch, spliced in Lua', { set: { a: 2 }, unset: [] }, texts],
        // the text comes back and is spliced in Node, which also refuses a bad literal (Lua's scan takes
        // any run of letters as one: it copies members without reading them)
        ["the middleware's patch, spliced in Node", sessionChange(loaded, session, false, JSON.stringify(session)), [...texts, '{"a":tru}']],
      ];
      for (const [label, patch, bad] of cases) {
        for (const text of bad) {
          await redis.command('SET', 'koa:sess:bad', text);
          expect(await store.merge!('koa:sess:bad', patch, 60_000), `${label}: ${text}`).to.equal(false);
          expect(await raw('koa:sess:bad')).to.equal(text);
        }
      }
      expect(invalid).to.have.length(2 * texts.length + 1);
      expect(invalid[0]).to.deep.include({ key: 'koa:sess:bad' });
    });

    it('a merge that reaches Redis after its deadline is refused, never applied late', async () => {
      const slow = await open({ commandTimeout: 300 });
      const key = 'koa:sess:frozen';
      await slow.set(key, base as Session, 60_000);
      await redis.resetStats();
      redis.pause();
      let failure: unknown;
      try {
        await slow.merge!(key, { set: { late: true }, unset: [] }, 60_000);
      } catch (err) {
        failure = err;
      } finally {
        // the merge gave up at its deadline: whatever Redis runs from now on is past it
        redis.resume();
      }
      expect(failure).to.be.instanceOf(RedisStoreTimeoutError);
      await once(slow, 'connect');
      // only once Redis has run the late script does "not applied" mean anything
      await waitFor('the timed-out merge to run on the resumed server', async () => {
        const stats = await redis.commandStats();
        return (stats.evalsha ?? 0) + (stats.eval ?? 0) >= 1 ? true : undefined;
      });
      expect(JSON.parse((await raw(key))!)).to.not.have.property('late');
    });
  });

  describe('round trips (INFO commandstats)', () => {
    /** Calls of the session commands during one request, after a login; `time` run by the scripts is left out. */
    async function commandsOf(storeOptions: RedisStoreOptions, options: Parameters<typeof session>[0], path: string) {
      const s = Object.keys(storeOptions).length === 0 ? store : await open(storeOptions);
      const handler = concurrencyApp({ store: s, ...options }).callback();
      const cookie = cookieOf(await request(handler).get('/login'));
      await request(handler).get('/set?k=warm').set('Cookie', cookie); // loads the scripts
      await redis.resetStats();
      await request(handler).get(path).set('Cookie', cookie).expect(200);
      const stats = await redis.commandStats();
      return Object.fromEntries(['get', 'set', 'del', 'pexpire', 'evalsha', 'eval'].filter((c) => stats[c]).map((c) => [c, stats[c]]));
    }

    it('a read: one GET', async () => {
      expect(await commandsOf({}, {}, '/')).to.deep.equal({ get: 1 });
    });

    it('a change: GET + one EVALSHA (the script runs one GET and one SET inside it)', async () => {
      expect(await commandsOf({}, {}, '/set?k=a')).to.deep.equal({ get: 2, evalsha: 1, set: 1 });
    });

    it('a change with guardWrites: false is the same script, without the deadline check', async () => {
      expect(await commandsOf({ guardWrites: false }, {}, '/set?k=a')).to.deep.equal({ get: 2, evalsha: 1, set: 1 });
    });

    it('merge: false: GET + one EVALSHA with only the SET inside (the whole session)', async () => {
      expect(await commandsOf({}, { merge: false }, '/set?k=a')).to.deep.equal({ get: 1, evalsha: 1, set: 1 });
    });
  });
});
