import { expect } from 'chai';
import { once } from 'node:events';
import type { Context } from 'koa';
import type { Session, SessionOptions, SessionStore } from '../lib/index.js';
import { RedisStore } from '../lib/store/redis.js';
import { MemoryStore, agent, app, setCookies } from './support/app.js';
import { RedisServer, stopAllRedis } from './support/redis.js';

/**
 * Issue 8: with merging on, the hooks, rolling, touch, regenerate, destroy and
 * defer mode behave as with whole-session saves. One scripted visit runs with
 * `merge: true` and `merge: false` on MemoryStore and on a real redis-server;
 * what a client and the store can observe must be the same. (Only what merging
 * is for differs: overlapping requests, tested in merge.test.ts and
 * redis-merge.test.ts.)
 */

interface Step {
  path: string;
  status: number;
  body: unknown;
  /** Set-Cookie lines with the id, signature and expiry times blanked. */
  cookies: string[];
  /** The stored session after the step (cookie.expires blanked), or null. */
  stored: unknown;
}

const blank = (line: string) =>
  line
    .replace(/^(koa\.sid(?:\.sig)?)=[^;]+/, '$1=…')
    .replace(/expires=[^;]+/i, 'expires=…');

function handler(defer: boolean) {
  return async (ctx: Context) => {
    const s = (defer ? await (ctx.session as unknown as Promise<Session>) : ctx.session) as Session;
    switch (ctx.path) {
      case '/login':
        s.user = 'ann';
        break;
      case '/change':
        s.views = Number(s.views ?? 0) + 1;
        break;
      case '/remove':
        delete s.user;
        break;
      case '/regenerate':
        (await ctx.regenerateSession()).user = 'ann again';
        break;
      case '/force':
        s.forced = true;
        await ctx.saveSession();
        break;
      case '/poison':
        s.bad = true;
        break;
      case '/logout':
        ctx.session = null;
        break;
      case '/cookie':
        s.cookie.maxAge = 123_000;
        break;
      default:
        // reads only
        void s.user;
    }
    const now = defer ? await (ctx.session as unknown as Promise<Session | null>) : ctx.session;
    ctx.body = { user: now?.user ?? null, views: now?.views ?? null, keys: now ? Object.keys(now).sort() : null };
  };
}

const VISIT = ['/login', '/change', '/', '/change', '/remove', '/cookie', '/regenerate', '/change', '/force', '/poison', '/', '/change', '/logout', '/'];

async function visit(store: SessionStore, options: SessionOptions, defer: boolean): Promise<Step[]> {
  const koa = app(
    {
      store,
      defer,
      // the hooks: beforeSave counts saves into the session; valid refuses a poisoned one
      beforeSave: (_ctx, s) => {
        s.saves = Number(s.saves ?? 0) + 1;
      },
      valid: (_ctx, s) => s.bad !== true,
      ...options,
    },
    handler(defer),
  );
  const client = agent(koa);
  const steps: Step[] = [];
  let sid: string | undefined;
  for (const path of VISIT) {
    const res = await client.get(path);
    const lines = setCookies(res);
    const set = /^koa\.sid=([^;]*)/.exec(lines.find((l) => l.startsWith('koa.sid=')) ?? '')?.[1];
    if (set !== undefined) sid = set === '' ? undefined : set;
    let stored: unknown = null;
    if (sid !== undefined) {
      const data = (await store.get('koa:sess:' + sid)) as Record<string, unknown> | null;
      if (data) {
        const cookie = { ...(data.cookie as Record<string, unknown>) };
        if ('expires' in cookie) cookie.expires = '…';
        stored = { ...data, cookie };
      }
    }
    steps.push({ path, status: res.status, body: res.body, cookies: lines.map(blank), stored });
  }
  return steps;
}

describe('merge on and off: the same visit, the same observable outcome (issue 8)', function () {
  this.timeout(30_000);
  let redis: RedisServer;
  const stores: RedisStore[] = [];

  before(async () => {
    redis = await RedisServer.start({ label: 'merge-parity' });
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.quit()));
    await stopAllRedis();
  });

  const STORES: Array<[string, () => Promise<SessionStore>]> = [
    ['MemoryStore', async () => new MemoryStore()],
    [
      'RedisStore (real redis-server)',
      async () => {
        const store = new RedisStore({ url: redis.url });
        stores.push(store);
        await once(store, 'connect');
        return store;
      },
    ],
  ];

  for (const [label, open] of STORES) {
    for (const [mode, options, defer] of [
      ['eager', {}, false],
      ['defer', {}, true],
      ['rolling', { rolling: true }, false],
      ['ttl from the session', { ttl: (s: Session) => (s.user === 'ann again' ? 90_000 : 60_000) }, false],
    ] as const) {
      it(`${label}, ${mode}: merge: true and merge: false give the same statuses, bodies, cookies and stored sessions`, async () => {
        const merged = await visit(await open(), { ...options, merge: true }, defer);
        const whole = await visit(await open(), { ...options, merge: false }, defer);
        expect(merged.map((s) => s.path)).to.deep.equal(VISIT);
        for (let i = 0; i < VISIT.length; i++) expect(merged[i], `step ${i} ${VISIT[i]}`).to.deep.equal(whole[i]);
        // the visit did what it says, so the comparison is not of two empty runs
        const at = (path: string, n = 0) => merged.filter((s) => s.path === path)[n]!;
        expect(at('/change').stored).to.deep.include({ user: 'ann', views: 1 });
        expect(at('/remove').stored).to.not.have.property('user');
        expect((at('/cookie').stored as { cookie: { maxAge: number } }).cookie.maxAge).to.equal(123_000);
        expect(at('/regenerate').stored).to.deep.include({ user: 'ann again' }).and.not.have.property('views');
        expect(at('/force').stored).to.deep.include({ forced: true, views: 1 });
        expect(at('/', 1).body).to.deep.include({ user: null });
        expect(at('/logout').stored).to.equal(null);
        expect(Number((at('/force').stored as { saves: number }).saves)).to.be.above(1);
        if (mode === 'rolling') expect(at('/').cookies.some((l) => l.startsWith('koa.sid='))).to.equal(true);
      });
    }
  }
});
