import { expect } from 'chai';
import Koa from 'koa';
import request from 'supertest';
import session, { type SessionOptions } from '../../lib/index.js';

/** Lets a test hold /slow between its session load and its change. */
export interface Gate {
  reached: () => void;
  proceed: Promise<void>;
}

/**
 * /login?user=U regenerates and signs in; /become?user=U changes the owner of
 * the current session; /logout destroys it; /everywhere ends the user's other
 * sessions; /devices lists them; /signout?handle=H ends that one; /change
 * changes a field; /slow (with a gate) waits, then changes a field or, with
 * ?user=U, the owner.
 */
export function ownersApp(options: SessionOptions, gate?: Gate) {
  const app = new Koa();
  app.keys = ['owners test key'];
  app.silent = true;
  const mw = session({ owner: (s) => s.userId as string | undefined, ...options });
  app.use(mw);
  app.use(async (ctx) => {
    const s = ctx.session!;
    if (ctx.path === '/login') {
      await ctx.regenerateSession();
      ctx.session!.userId = String(ctx.query.user);
    } else if (ctx.path === '/new') {
      s.userId = ctx.query.user === undefined ? undefined : String(ctx.query.user);
      s.visits = 1;
    } else if (ctx.path === '/become') {
      s.userId = String(ctx.query.user);
    } else if (ctx.path === '/logout') {
      ctx.session = null;
    } else if (ctx.path === '/change') {
      s.n = Number(s.n ?? 0) + 1;
    } else if (ctx.path === '/everywhere') {
      ctx.body = { ended: await ctx.sessionStore.destroySessions(s.userId as string, { except: ctx.sessionId }) };
      return;
    } else if (ctx.path === '/signout') {
      ctx.body = { ended: await ctx.sessionStore.destroySession(s.userId as string, String(ctx.query.handle)) };
      return;
    } else if (ctx.path === '/devices') {
      ctx.body = await ctx.sessionStore.listSessions(s.userId as string, { current: ctx.sessionId });
      return;
    } else if (ctx.path === '/slow' && gate) {
      gate.reached();
      await gate.proceed;
      if (ctx.query.user) s.userId = String(ctx.query.user);
      else s.touched = Date.now();
    }
    ctx.body = { userId: s.userId ?? null, sid: ctx.sessionId };
  });
  return { app, mw };
}

export const cookieOf = (res: { headers: Record<string, unknown> }) =>
  ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? []).map((c) => c.split(';')[0]).join('; ');

export async function login(app: Koa, user: string): Promise<{ cookie: string; sid: string }> {
  const res = await request(app.callback()).get(`/login?user=${user}`).expect(200);
  return { cookie: cookieOf(res), sid: res.body.sid as string };
}

/**
 * What a /devices answer promises: `count` devices, exactly one of them the
 * current one, opaque handles that never reveal a session id of `logins`,
 * created no later than saved, and the default one-day ttl left.
 */
export function expectDevices(devices: Array<Record<string, unknown>>, count: number, logins: Array<{ sid: string }>): void {
  expect(devices).to.have.length(count);
  expect(devices.filter((d) => d.current)).to.have.length(1);
  const text = JSON.stringify(devices);
  for (const { sid } of logins) expect(text).to.not.contain(sid);
  for (const d of devices) {
    expect(d.handle).to.match(/^[A-Za-z0-9_-]{22}$/);
    expect(Date.parse(d.createdAt as string)).to.be.at.most(Date.parse(d.savedAt as string));
    expect(d.ttl).to.be.within(86_300_000, 86_400_000);
  }
}
