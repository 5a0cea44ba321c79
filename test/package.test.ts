import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function node(code: string, type: 'commonjs' | 'module'): unknown {
  const flag = type === 'module' ? '--input-type=module' : '--input-type=commonjs';
  return JSON.parse(execFileSync(process.execPath, [flag, '-e', code], { cwd: root, encoding: 'utf8' }));
}

describe('package entry points (built dist/)', () => {
  before(function () {
    if (!existsSync(root + 'dist/cjs/lib/cjs.js')) {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
  });

  it("require() returns the middleware factory itself, like require('koa-generic-session')", () => {
    const shape = node(
      `const s = require('koa-generic-session-ts');
       console.log(JSON.stringify({ type: typeof s, memory: typeof s.MemoryStore, self: s.session === s && s.default === s,
         keys: Object.keys(s).sort(), mw: typeof s() }));`,
      'commonjs',
    );
    expect(shape).to.deep.include({ type: 'function', memory: 'function', self: true, mw: 'function' });
  });

  it('import and require expose the same names', () => {
    const cjs = node(`console.log(JSON.stringify(Object.keys(require('koa-generic-session-ts')).sort()))`, 'commonjs') as string[];
    const esm = (
      node(`import * as m from 'koa-generic-session-ts'; console.log(JSON.stringify(Object.keys(m).sort()))`, 'module') as string[]
    ).filter((name) => name !== 'module.exports'); // newer Node lists it for any CommonJS module
    expect(esm).to.include.members(['default', 'session', 'MemoryStore', 'SessionStoreUnavailableError']);
    expect(cjs).to.deep.equal(esm);
  });

  it('the ESM default export is the factory and MemoryStore is a named export', () => {
    const shape = node(
      `import session, { MemoryStore } from 'koa-generic-session-ts';
       console.log(JSON.stringify({ f: typeof session, m: typeof MemoryStore, mw: typeof session() }))`,
      'module',
    );
    expect(shape).to.deep.equal({ f: 'function', m: 'function', mw: 'function' });
  });

  it('import and createRequire() in one ESM module get the same objects, and an error thrown by the required copy is instanceof the imported class', () => {
    const result = node(
      `import { once } from 'node:events';
       import { createRequire } from 'node:module';
       import Koa from 'koa';
       import session, { session as named, MemoryStore, SessionError, SessionKeysMissingError } from 'koa-generic-session-ts';
       import { RedisStore, RedisStoreTimeoutError } from 'koa-generic-session-ts/redis';
       import compat, { SessionError as CompatSessionError } from 'koa-generic-session-ts/compat';
       const require = createRequire(import.meta.url);
       const cjs = require('koa-generic-session-ts');
       const cjsRedis = require('koa-generic-session-ts/redis');
       const cjsCompat = require('koa-generic-session-ts/compat');

       // a request through the required middleware on an app without keys:
       // the session cookie cannot be signed, and the required copy throws
       const app = new Koa();
       let thrown;
       app.use(async (ctx, next) => { try { await next(); } catch (err) { thrown = err; } ctx.body = 'caught'; });
       app.use(cjs({ store: new cjs.MemoryStore() }));
       app.use((ctx) => { ctx.session.views = 1; });
       const server = app.listen(0, '127.0.0.1');
       await once(server, 'listening');
       await (await fetch('http://127.0.0.1:' + server.address().port + '/')).text();
       server.close();

       console.log(JSON.stringify({
         session: session === cjs, named: named === cjs.session, MemoryStore: MemoryStore === cjs.MemoryStore,
         SessionError: SessionError === cjs.SessionError, RedisStore: RedisStore === cjsRedis.RedisStore,
         rootRedisStore: cjs.RedisStore === RedisStore, RedisStoreTimeoutError: RedisStoreTimeoutError === cjsRedis.RedisStoreTimeoutError,
         compat: compat === cjsCompat, compatError: CompatSessionError === SessionError,
         thrown: thrown?.constructor?.name, isSessionError: thrown instanceof SessionError,
         isKeysMissing: thrown instanceof SessionKeysMissingError, code: thrown?.code,
       }));`,
      'module',
    );
    expect(result).to.deep.equal({
      session: true,
      named: true,
      MemoryStore: true,
      SessionError: true,
      RedisStore: true,
      rootRedisStore: true,
      RedisStoreTimeoutError: true,
      compat: true,
      compatError: true,
      thrown: 'SessionKeysMissingError',
      isSessionError: true,
      isKeysMissing: true,
      code: 'ERR_SESSION_KEYS_MISSING',
    });
  });

  it('require() carries every export of the sources, and an error made by it has the code, message and name of 2.3.1', () => {
    const [entry, sources, error] = node(
      `const entry = require('koa-generic-session-ts');
       const sources = require('./dist/cjs/lib/index.js');
       const e = new entry.SessionStoreUnavailableError(5);
       console.log(JSON.stringify([Object.keys(entry).sort(), Object.keys(sources).sort(),
         [e instanceof entry.SessionError, e.code, e.message, e.name, e.waitedMs]]))`,
      'commonjs',
    ) as [string[], string[], unknown[]];
    expect(entry).to.deep.equal(sources);
    expect(error).to.deep.equal([
      true,
      'ERR_SESSION_STORE_UNAVAILABLE',
      'session store is unavailable',
      'SessionStoreUnavailableError',
      5,
    ]);
  });
});
