import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import Koa from 'koa';
import request from 'supertest';
import session, { MemoryStore, type SessionOptions } from '../lib/index.js';
import { setCookies } from './support/app.js';
import { runTs } from './support/child.js';
import { warningsDuring } from './support/warnings.js';

/**
 * Warnings are once per process per option name, and mocha runs every test
 * file in one process: each test here starts from a process that has warned
 * about nothing yet, whatever other files did. The rule itself is tested in a
 * process of its own (the first test).
 */
function forgetWarnings(): void {
  (globalThis as Record<symbol, Set<string> | undefined>)[Symbol.for('koa-generic-session-ts.warned')]?.clear();
}

describe('unknown session() options: a warning, not an exception', () => {
  beforeEach(forgetWarnings);

  it('session({ secret }) starts and serves sessions; one KGS_UNKNOWN_OPTION warning per name, per process (own process)', async () => {
    const run = await runTs('fixtures/unknown-options.ts');
    expect(run.code).to.equal(0);
    const warnings = JSON.parse(run.stdout) as Array<{ code: string; message: string }>;
    expect(warnings).to.deep.equal([
      {
        code: 'KGS_UNKNOWN_OPTION',
        message:
          'session(): unknown option "secret" is ignored; known options: key, prefix, store, ttl, rolling, defer, allowEmpty, ' +
          'genSid, errorHandler, valid, beforeSave, sessionIdStore, cookie, reconnectTimeout, storeTimeout, degraded, merge, owner, absoluteTimeout, hashIds, handleKey, describe, maxSessionsPerOwner',
      },
      { code: 'KGS_UNKNOWN_OPTION', message: warnings[1]!.message },
      { code: 'KGS_UNKNOWN_OPTION', message: 'session(): unknown cookie option "secret" is ignored; did you mean "secure"?' },
    ]);
    expect(warnings[1]!.message).to.match(/^session\(\): unknown option "resave" is ignored; known options: /);
    // Node prints it too, under the package's warning type and code
    expect(run.stderr.match(/\[KGS_UNKNOWN_OPTION\] KoaGenericSessionWarning: session\(\): unknown option "secret"/g)).to.have.length(1);
  });

  it('an app with an unknown option works as without it', async () => {
    const koa = new Koa();
    koa.keys = ['k'];
    const store = new MemoryStore();
    const warnings = await warningsDuring(() => koa.use(session({ store, sharedSecretForOtherMiddleware: 'x' } as SessionOptions)));
    expect(warnings.map((w) => w.code)).to.deep.equal(['KGS_UNKNOWN_OPTION']);
    koa.use((ctx) => {
      ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
      ctx.body = { n: ctx.session!.n };
    });
    const agent = request.agent(koa.callback());
    expect((await agent.get('/')).body).to.deep.equal({ n: 1 });
    expect((await agent.get('/')).body).to.deep.equal({ n: 2 });
  });

  it('an unknown cookie option is not passed on: the Set-Cookie is the same as without it', async () => {
    const header = async (cookie: Record<string, unknown>) => {
      const koa = new Koa();
      koa.keys = ['k'];
      koa.use(session({ cookie, genSid: () => 'fixed' } as SessionOptions));
      koa.use((ctx) => {
        ctx.session!.n = 1;
        ctx.body = 'ok';
      });
      return setCookies(await request(koa.callback()).get('/')).map((l) => l.replace(/expires=[^;]+/, 'expires=<date>'));
    };
    let withUnknown: string[] = [];
    const warnings = await warningsDuring(async () => {
      withUnknown = await header({ maxAge: 5000, colour: 'blue', toHeader: 'x' });
    });
    expect(withUnknown).to.deep.equal(await header({ maxAge: 5000 }));
    expect(warnings.map((w) => w.message)).to.deep.equal([
      'session(): unknown cookie option "colour" is ignored; known cookie options: maxAge, maxage, expires, path, domain, secure, ' +
        'httpOnly, sameSite, signed, overwrite, priority, partitioned, rewrite, secureProxy',
      'session(): unknown cookie option "toHeader" is ignored; known cookie options: maxAge, maxage, expires, path, domain, secure, ' +
        'httpOnly, sameSite, signed, overwrite, priority, partitioned, rewrite, secureProxy',
    ]);
  });

  it('once per process per name: the same unknown name again is silent, another name warns', async () => {
    const first = await warningsDuring(() => session({ onceOnlyOption: 1 } as SessionOptions));
    const again = await warningsDuring(() => session({ onceOnlyOption: 2 } as SessionOptions));
    const other = await warningsDuring(() => session({ onceOnlyOption: 3, anotherOnceOption: 1 } as SessionOptions));
    // the same name as a cookie option is another option
    const cookie = await warningsDuring(() => session({ cookie: { onceOnlyOption: 1 } } as SessionOptions));
    expect(first.map((w) => w.message)).to.have.length(1).and.satisfy((m: string[]) => m[0]!.includes('"onceOnlyOption"'));
    expect(again).to.deep.equal([]);
    expect(other.map((w) => w.message)).to.have.length(1).and.satisfy((m: string[]) => m[0]!.includes('"anotherOnceOption"'));
    expect(cookie.map((w) => w.message)).to.have.length(1).and.satisfy((m: string[]) => m[0]!.includes('cookie option "onceOnlyOption"'));
  });

  const NEAR_MISSES: Array<[SessionOptions, string]> = [
    [{ rollign: true } as SessionOptions, 'unknown option "rollign" is ignored; did you mean "rolling"?'],
    [{ Defer: true } as SessionOptions, 'unknown option "Defer" is ignored; did you mean "defer"?'],
    [{ reconnect_timeout: 5000 } as SessionOptions, 'unknown option "reconnect_timeout" is ignored; did you mean "reconnectTimeout"?'],
    [{ allowempty: true } as SessionOptions, 'unknown option "allowempty" is ignored; did you mean "allowEmpty"?'],
    [{ errorHandeler: () => {} } as SessionOptions, 'unknown option "errorHandeler" is ignored; did you mean "errorHandler"?'],
    [{ stroe: new MemoryStore() } as SessionOptions, 'unknown option "stroe" is ignored; did you mean "store"?'],
    // koa-session puts the cookie attributes at the top level
    [{ maxAge: 60_000 } as SessionOptions, 'unknown option "maxAge" is ignored; did you mean "cookie.maxAge"?'],
    [{ httpOnly: false } as SessionOptions, 'unknown option "httpOnly" is ignored; did you mean "cookie.httpOnly"?'],
    // express-session's names
    [{ name: 'sid' } as SessionOptions, 'unknown option "name" is ignored; did you mean "key"?'],
    [{ genid: () => 'x' } as SessionOptions, 'unknown option "genid" is ignored; did you mean "genSid"?'],
    [{ saveUninitialized: true } as SessionOptions, 'unknown option "saveUninitialized" is ignored; did you mean "allowEmpty"?'],
    [{ keys: ['k'] } as SessionOptions, 'unknown option "keys" is ignored; did you mean "app.keys" (signing keys are set on the Koa app)?'],
    [{ cookie: { maxge: 1 } } as SessionOptions, 'unknown cookie option "maxge" is ignored; did you mean "maxAge"?'],
    [{ cookie: { httponly: true } } as SessionOptions, 'unknown cookie option "httponly" is ignored; did you mean "httpOnly"?'],
    [{ cookie: { same_site: 'lax' } } as SessionOptions, 'unknown cookie option "same_site" is ignored; did you mean "sameSite"?'],
    [{ cookie: { rolling: true } } as SessionOptions, 'unknown cookie option "rolling" is ignored; did you mean the top-level option "rolling"?'],
  ];
  for (const [options, message] of NEAR_MISSES) {
    it(`${JSON.stringify(options)}: ${message}`, async () => {
      const warnings = await warningsDuring(() => session(options));
      expect(warnings).to.deep.equal([{ name: 'KoaGenericSessionWarning', code: 'KGS_UNKNOWN_OPTION', message: 'session(): ' + message }]);
    });
  }

  it('a name far from every option gets the list instead of a guess', async () => {
    const warnings = await warningsDuring(() => session({ saltRounds: 10 } as SessionOptions));
    expect(warnings[0]!.message).to.match(/^session\(\): unknown option "saltRounds" is ignored; known options: key, prefix, /);
  });

  it('a known option with a wrong type still throws, next to an unknown one', () => {
    expect(() => session({ unknownBesideDefer: 1, defer: 'false' } as never)).to.throw(
      TypeError,
      'session() options: option "defer" must be a boolean, got the string "false"',
    );
  });
});

describe('a store object without get, set or destroy: a warning, as koa-generic-session accepted it', () => {
  beforeEach(forgetWarnings);

  it('setup succeeds, watches the store for connect/disconnect, and warns naming what is missing', async () => {
    const store = new EventEmitter();
    const warnings = await warningsDuring(() => session({ store } as never));
    expect(store.listenerCount('disconnect')).to.equal(1);
    expect(store.listenerCount('connect')).to.equal(1);
    expect(warnings).to.deep.equal([
      {
        name: 'KoaGenericSessionWarning',
        code: 'KGS_INCOMPLETE_STORE',
        message: 'session() option "store" has no get, set, destroy methods: every request that needs one will fail; a store needs get, set and destroy',
      },
    ]);
  });

  it('a request that needs the missing method goes to errorHandler, as a store error', async () => {
    const seen: string[] = [];
    const koa = new Koa();
    koa.keys = ['k'];
    await warningsDuring(() =>
      koa.use(
        session({
          store: { get: () => null, destroy: () => undefined } as never,
          errorHandler: (err, type) => void seen.push(`${type}: ${(err as Error).name}`),
        }),
      ),
    );
    koa.use((ctx) => {
      ctx.session!.n = 1;
      ctx.body = 'ok';
    });
    expect((await request(koa.callback()).get('/')).status).to.equal(200);
    expect(seen).to.deep.equal(['set: TypeError']);
  });
});
