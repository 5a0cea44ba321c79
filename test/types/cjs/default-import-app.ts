// The other import style apps used with @types/koa-generic-session under
// esModuleInterop: a default import of the factory, named imports of the rest.
import Koa from 'koa';
import session, { MemoryStore, type Session, type SessionOptions } from 'koa-generic-session-ts';
import { RedisStore } from 'koa-generic-session-ts/redis';
import koa1Session = require('koa-generic-session-ts/compat');

declare module 'koa-generic-session-ts' {
  interface SessionData {
    userId?: string;
  }
}

const options: SessionOptions = {
  store: process.env['REDIS_URL'] ? new RedisStore({ url: process.env['REDIS_URL'] }) : new MemoryStore(),
  errorHandler(err: Error, type: string, ctx: Koa.Context) {
    ctx.throw(500, `${type}: ${err.message}`);
  },
  valid: (ctx: Koa.ParameterizedContext, sess: Session) => typeof sess.userId === 'string' || ctx.path === '/login',
};

const app = new Koa();
app.keys = ['a long random secret'];
app.use(session(options));
app.use(async (ctx: Koa.Context) => {
  if (!ctx.session) return;
  const userId: string | undefined = ctx.session.userId;
  ctx.body = { userId };
});

const legacy = koa1Session({ defer: true });
void legacy;
