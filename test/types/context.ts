// Compile-only checks, run by `npm run typecheck` (tsc --noEmit). Every line
// marked with an expect-error directive must fail to compile, or tsc complains.
import Koa from 'koa';
import session, {
  MemoryStore,
  SessionStoreOutageError,
  SessionStoreTimeoutError,
  SessionStoreUnavailableError,
  type HashIdsOptions,
  type Session,
  type SessionStore,
  type StoreStatus,
} from '../../lib/index.js';

declare module '../../lib/index.js' {
  interface SessionData {
    userId?: string;
  }
}

const app = new Koa();
app.keys = ['k'];
const mw = session({ store: new MemoryStore(), cookie: { maxAge: 1000, sameSite: 'lax' }, ttl: (s) => (s.userId ? 1000 : null) });
app.use(mw);
app.use(async (ctx) => {
  const s = await ctx.session;
  if (s) {
    const id: string | undefined = s.userId;
    // @ts-expect-error userId is a string, merged into SessionData by the app
    s.userId = 42;
    s.cookie.maxAge = null;
    void id;
  }
  ctx.session = null;
  ctx.sessionSave = false;
  const sid: string | null | undefined = ctx.sessionId;
  const fresh: Session = await ctx.regenerateSession();
  await ctx.saveSession();
  await ctx.sessionStore.get('sid');
  void sid;
  void fresh;
});

const status: StoreStatus = mw.status;
mw.on('status', (now, before) => {
  const a: StoreStatus = now;
  const b: StoreStatus = before;
  void a;
  void b;
});
void mw.close({ timeout: 100 });
void status;

mw.on('destroyed', (event) => {
  const cause: 'logout' | 'destroySession' | 'destroySessions' | 'limit' | 'ttl' | 'absoluteTimeout' = event.cause;
  const handle: string = event.handle;
  const owner: string | undefined = event.owner;
  void [cause, handle, owner, event.ctx?.path];
});
mw.on('regenerated', (event) => void [event.previous, event.ctx.path]);
mw.on('invalid', ({ reason, source }) => void [reason, source]);
mw.on('lost', (event) => void event.ctx.path);
// @ts-expect-error no such event
mw.on('deleted', () => {});
// @ts-expect-error an expired event has a reason, not a cause
mw.on('expired', (event) => void event.cause);
session({ handleKey: 'a secret' });
// @ts-expect-error handleKey is a string
session({ handleKey: 42 });

// @ts-expect-error unknown options are refused at compile time too (at run time they only warn)
session({ rolls: true });
// @ts-expect-error an option of another middleware sharing the object is refused at compile time
session({ secret: 'keyboard cat' });
// @ts-expect-error unknown cookie options too
session({ cookie: { colour: 'blue' } });
// a shared options object typed by the app compiles, as with any excess-property check
const shared = { secret: 'keyboard cat', key: 'koss:test_sid' };
session(shared);
// @ts-expect-error ttl is ms or a function
session({ ttl: '1d' });
session({ storeTimeout: 5000 });
// @ts-expect-error storeTimeout is a number of ms
session({ storeTimeout: '5s' });
session({ rolling: { renewAfter: 60_000 }, absoluteTimeout: 8 * 3_600_000, hashIds: { secret: 's', migrate: true } });
session({ rolling: true, hashIds: true });
// @ts-expect-error rolling's object form is { renewAfter: ms }
session({ rolling: { touchAfter: 60_000 } });
// @ts-expect-error hashIds' secret is a string of its own, not app.keys' array
session({ hashIds: { secret: ['a', 'b'] } });
const hashOptions: HashIdsOptions = { migrate: true };
session({ hashIds: hashOptions });

const store: SessionStore = {
  get: async () => null,
  set: () => undefined,
  destroy: (key: string) => (cb: (err: unknown) => void) => cb(null),
};
session({ store });

const err = new SessionStoreUnavailableError(10);
const code: 'ERR_SESSION_STORE_UNAVAILABLE' = err.code;
void code;

// The callbacks are methods (so apps may narrow their parameters, as
// @types/koa-generic-session allowed), but an unannotated callback still gets
// the precise types
session({
  errorHandler(err, type, ctx) {
    // @ts-expect-error err is unknown until the app narrows it
    void err.message;
    const t: 'get' | 'set' | 'destroy' = type;
    // @ts-expect-error type is the union, not any string
    const u: 'get' = type;
    void t;
    void u;
    void ctx.path;
  },
  valid: (ctx, s) => ctx.path !== '/' && s.cookie.httpOnly !== false,
  genSid(length) {
    return this.path + length;
  },
});

const late = new SessionStoreTimeoutError('merge', 50);
const lateCode: 'ERR_SESSION_STORE_CALL_TIMEOUT' = late.code;
const outage: SessionStoreOutageError = late;
const outageStatus: number = outage.statusCode;
void lateCode;
void outageStatus;
// @ts-expect-error the method is one of the store's
new SessionStoreTimeoutError('fetch', 50);
