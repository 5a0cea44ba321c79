// An app written against @types/koa-generic-session, in that package's own
// style (`import x = require()`, `Koa.Context` parameters, callbacks typed the
// way its declarations allowed), with only the package name changed. It must
// compile as it is.
import Koa = require('koa');
import Cookies = require('cookies');
import session = require('koa-generic-session-ts');
import { MemoryStore, Session } from 'koa-generic-session-ts';

declare module 'koa' {
  // apps commonly add to Koa's Context, which makes Koa.Context narrower than
  // the context the middleware hands its callbacks
  interface Context {
    requestId: string;
  }
}

const app = new Koa();

app.use(
  session({
    key: 'sessionKey',
    store: new MemoryStore(),
    ttl: 60 * 60,
    prefix: 'a-prefix',
    cookie: {
      path: '/test',
      rewrite: false,
      signed: false,
      maxAge: 60 * 60,
      secure: true,
      httpOnly: true,
      overwrite: true,
    },
    allowEmpty: false,
    defer: false,
    reconnectTimeout: 100,
    rolling: false,
    sessionIdStore: {
      get: () => 'something',
      set: (sid: string, session: Session) => {},
      reset: () => {},
    },
    genSid: (length: number) => 'aSid',
    errorHandler: (error: Error, type: string, ctx: Koa.Context) => {},
    valid: (ctx: Koa.Context, session: Session) => true,
    beforeSave: (ctx: Koa.Context, session: Session) => {},
  }),
);

// The same callbacks as methods, with `this` typed as the declarations had it
const headerIds: session.SessionIdStore<Koa.Context> = {
  get(this: Koa.Context): string | undefined {
    return this.get('x-session-id') || undefined;
  },
  set(this: Koa.Context, sid: string, sess: Session): void {
    this.set('x-session-id', sid);
  },
  reset(this: Koa.Context): void {
    this.remove('x-session-id');
  },
};

// A store typed by the declarations' SessionStore interface
class TypedStore implements session.SessionStore {
  private readonly sessions = new Map<string, Session>();
  get(sid: string): Session | undefined | Promise<Session | undefined> {
    return this.sessions.get(sid);
  }
  set(sid: string, sess: Session, ttl?: number): void | Promise<void> {
    this.sessions.set(sid, sess);
  }
  destroy(sid: string): void | Promise<void> {
    this.sessions.delete(sid);
  }
}

const cookie: Cookies.SetOption = { path: '/', httpOnly: true, maxAge: 3_600_000, sameSite: 'lax' };
const options: session.SessionOptions = {
  store: new TypedStore(),
  cookie,
  sessionIdStore: headerIds,
  genSid(this: Koa.Context, length: number): Promise<string> {
    return Promise.resolve((this.requestId ?? 'id') + length);
  },
  errorHandler(error: Error, type: string, ctx: Koa.Context): void {
    ctx.app.emit('error', error, ctx);
  },
  valid(ctx: Koa.Context, sess: Session): boolean {
    return ctx.get('user-agent') !== '' && sess.cookie !== undefined;
  },
  beforeSave(ctx: Koa.Context, sess: Session): void {
    sess['savedBy'] = ctx.requestId;
  },
};
const middleware: Koa.Middleware = session(options);
app.use(middleware);

app.use((context: Koa.Context) => {
  if (!context.session) {
    return;
  }

  context.regenerateSession();
  context.sessionSave = true;
  context.session.cookie;
  context.session['key'] = 'value';
  context.session = null;
});

app.use(async (ctx: Koa.Context, next: Koa.Next) => {
  await ctx.regenerateSession();
  const sessionCookie: Cookies.SetOption | undefined = ctx.session ? { path: ctx.session.cookie.path } : undefined;
  void sessionCookie;
  await next();
});

app.listen(80);
