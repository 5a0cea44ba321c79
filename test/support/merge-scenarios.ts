import Koa from 'koa';
import request from 'supertest';
import session, { type SessionOptions } from '../../lib/index.js';
import { Gate } from './gate.js';

/**
 * An app for concurrency tests: GET /login creates a session; GET /set?k=K
 * loads it, sets key K and answers; GET /del?k=K deletes key K; GET /logout
 * destroys the session; GET / shows it. With `gate`, /set and /del given
 * `hold=NAME` stop at that point of the gate between loading the session and
 * changing it; /name?v=V&hold=NAME sets `name` to V the same way.
 */
export function concurrencyApp(options: SessionOptions, gate?: Gate): Koa {
  const app = new Koa();
  app.keys = ['merge test key'];
  app.use(session(options));
  app.use(async (ctx) => {
    const s = (await ctx.session)!;
    const k = String(ctx.query.k ?? '');
    if (ctx.path === '/login') s.user = 'ann';
    if (ctx.path === '/logout') ctx.session = null;
    if (ctx.path === '/set' || ctx.path === '/del' || ctx.path === '/name') {
      if (gate && ctx.query.hold !== undefined) await gate.hold(String(ctx.query.hold));
      if (ctx.path === '/set') s[k] = true;
      else if (ctx.path === '/del') delete s[k];
      else s.name = ctx.query.v;
    }
    ctx.body = ctx.session ?? {};
  });
  return app;
}

/** The `name=value` pairs of a response's Set-Cookie, as a Cookie header. */
export const cookieOf = (res: { headers: Record<string, unknown> }): string =>
  ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? []).map((c) => c.split(';')[0]).join('; ');

/**
 * Logs in, then sends `n` requests on that one session, each setting its own
 * key; all of them load the session before any changes it (they are held
 * until all `n` have loaded). Returns the keys kept.
 */
export async function parallelChanges(options: SessionOptions, n: number): Promise<{ cookie: string; kept: number; lost: number }> {
  const gate = new Gate();
  const handler = concurrencyApp(options, gate).callback();
  const cookie = cookieOf(await request(handler).get('/login'));
  const changes = Promise.all(
    Array.from({ length: n }, (_, i) =>
      request(handler)
        .get(`/set?k=key${i}&hold=all`)
        .set('Cookie', cookie)
        .then((r) => r),
    ),
  );
  await gate.reached('all', n);
  gate.open('all');
  for (const res of await changes) if (res.status !== 200) throw new Error(`a change answered ${res.status}`);
  const final = (await request(handler).get('/').set('Cookie', cookie)).body as Record<string, unknown>;
  const kept = Array.from({ length: n }, (_, i) => final[`key${i}`] === true).filter(Boolean).length;
  return { cookie, kept, lost: n - kept };
}
