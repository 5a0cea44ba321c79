import { expect } from 'chai';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin, packed, root } from './support/packed.js';

// Apps compiled against the packed package, as they would use it from npm,
// strict. The typings hold classes with #private fields, which need target
// ES2015 or later.
const STRICT = { target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], esModuleInterop: true };

async function compile(name: string, files: Record<string, string>, options: Record<string, unknown>): Promise<string> {
  const { consumer } = await packed();
  const dir = join(consumer, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  const tsconfig = { compilerOptions: { ...STRICT, ...options }, files: Object.keys(files) };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  const { code, output } = await bin('typescript/bin/tsc', ['-p', dir], dir);
  return code === 0 ? '' : output || `tsc exited with ${code}`;
}

const NODE10 = { module: 'commonjs', moduleResolution: 'node10', ignoreDeprecations: '5.0' };
const NODE16 = { module: 'nodenext', moduleResolution: 'nodenext' };
const BUNDLER = { module: 'esnext', moduleResolution: 'bundler' };

// Every entry point, imported with CommonJS syntax
const ENTRIES_CJS = `
import session = require('koa-generic-session-ts');
import redis = require('koa-generic-session-ts/redis');
import compat = require('koa-generic-session-ts/compat');
const mw: session.SessionMiddleware = session({ store: new session.MemoryStore() });
const store: session.SessionStore = new redis.RedisStore({ url: 'redis://127.0.0.1:1', redisOptions: { lazyConnect: true } });
const legacy: compat.Koa1SessionMiddleware = compat({ store });
const error: session.SessionError = new session.SessionStoreUnavailableError(1);
export = [mw, legacy, error];
`;
// Every entry point, imported with ESM syntax
const ENTRIES_ESM = `
import session, { MemoryStore, SessionStoreUnavailableError, type SessionMiddleware, type SessionError } from 'koa-generic-session-ts';
import { RedisStore, type RedisStoreOptions, type RedisCacheStats } from 'koa-generic-session-ts/redis';
import compat, { type Koa1SessionMiddleware } from 'koa-generic-session-ts/compat';
const options: RedisStoreOptions = { url: 'redis://127.0.0.1:1', redisOptions: { lazyConnect: true } };
const cached: RedisStoreOptions = { ...options, cache: { max: 10 } };
// @ts-expect-error the cache takes { max }
const mistyped: RedisStoreOptions = { ...options, cache: { maxEntries: 10 } };
const stats: RedisCacheStats | undefined = new RedisStore(cached).cacheStats();
const hitRate: number = stats === undefined ? 0 : stats.hits / Math.max(1, stats.hits + stats.misses);
void mistyped;
void hitRate;
const mw: SessionMiddleware = session({ store: new MemoryStore() });
const legacy: Koa1SessionMiddleware = compat({ store: new RedisStore(options) });
const error: SessionError = new SessionStoreUnavailableError(1);
export default [mw, legacy, error];
`;

describe('the packed package under TypeScript', function () {
  this.timeout(180_000);

  it('a program that loads it from a .ts and an .mts file compiles: one Koa augmentation, one SessionData', async () => {
    const errors = await compile(
      'both',
      {
        'app.ts': `
import session = require('koa-generic-session-ts');
import Koa = require('koa');
declare module 'koa-generic-session-ts' {
  interface SessionData { userId?: string }
}
const app = new Koa();
app.use(session({ store: new session.MemoryStore() }));
app.use(async (ctx) => {
  const name: string | undefined = ctx.session?.name;
  const store: session.PrefixedStore = ctx.sessionStore;
  void name;
  void store;
});
export = app;
`,
        'routes.mts': `
import session, { MemoryStore, PrefixedStore } from 'koa-generic-session-ts';
import Koa from 'koa';
declare module 'koa-generic-session-ts' {
  interface SessionData { name?: string }
}
const app = new Koa();
app.use(session({ store: new MemoryStore() }));
app.use(async (ctx) => {
  const userId: string | undefined = ctx.session?.userId;
  const store: PrefixedStore = ctx.sessionStore;
  void userId;
  void store;
});
export default app;
`,
      },
      // the package's own declaration files are checked too: a clash between
      // two copies of its typings is reported there
      { ...NODE16, skipLibCheck: false },
    );
    expect(errors).to.equal('');
  });

  for (const [resolution, options, files] of [
    ['node10 (module commonjs)', NODE10, { 'cjs.ts': ENTRIES_CJS, 'esm.ts': ENTRIES_ESM }],
    ['node16, from CommonJS and from ESM', NODE16, { 'cjs.ts': ENTRIES_CJS, 'esm.mts': ENTRIES_ESM }],
    ['bundler', BUNDLER, { 'esm.ts': ENTRIES_ESM }],
  ] as const) {
    it(`every entry point has its typings under ${resolution}`, async () => {
      expect(await compile('entries-' + resolution.split(' ')[0], files, options)).to.equal('');
    });
  }

  for (const [resolution, options] of [
    ['node10', NODE10],
    ['node16', NODE16],
  ] as const) {
    it(`apps written against @types/koa-generic-session compile unchanged (${resolution})`, async () => {
      // the same files `npm run typecheck` compiles against the sources
      const dir = join(root, 'test/types/cjs');
      const files: Record<string, string> = {};
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) files[file] = readFileSync(join(dir, file), 'utf8');
      expect(await compile('dt-' + resolution, files, options)).to.equal('');
    });
  }
});
