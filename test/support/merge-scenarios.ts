import Koa from 'koa';
import request from 'supertest';
import session, { type SessionOptions } from '../../lib/index.js';

/**
 * An app for concurrency tests: GET /login creates a session; GET /set?k=K
 * loads it, waits `delayMs` (so requests overlap), sets key K and answers;
 * GET /del?k=K deletes key K; GET /logout destroys the session; GET / shows it.
 */
export function concurrencyApp(options: SessionOptions, delayMs = 5): Koa {
  const app = new Koa();
  app.keys = ['merge test key'];
  app.use(session(options));
  app.use(async (ctx) => {
    const s = (await ctx.session)!;
    const k = String(ctx.query.k ?? '');
    if (ctx.path === '/login') s.user = 'ann';
    if (ctx.path === '/logout') ctx.session = null;
    if (ctx.path === '/set' || ctx.path === '/del') {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (ctx.path === '/set') s[k] = true;
      else delete s[k];
    }
    ctx.body = ctx.session ?? {};
  });
  return app;
}

/** Logs in, then sends `n` overlapping requests on that one session, each setting its own key; returns the keys kept. */
export async function parallelChanges(app: Koa, n: number): Promise<{ cookie: string; kept: number; lost: number }> {
  const handler = app.callback();
  const login = await request(handler).get('/login');
  const cookie = ([] as string[]).concat(login.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
  await Promise.all(Array.from({ length: n }, (_, i) => request(handler).get(`/set?k=key${i}`).set('Cookie', cookie)));
  const final = (await request(handler).get('/').set('Cookie', cookie)).body as Record<string, unknown>;
  const kept = Array.from({ length: n }, (_, i) => final[`key${i}`] === true).filter(Boolean).length;
  return { cookie, kept, lost: n - kept };
}
