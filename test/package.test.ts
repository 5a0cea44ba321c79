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
    const esm = node(
      `import * as m from 'koa-generic-session-ts'; console.log(JSON.stringify(Object.keys(m).sort()))`,
      'module',
    ) as string[];
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

  it('an error class is the same object through either entry', () => {
    const same = node(
      `const a = require('koa-generic-session-ts'); const b = require('koa-generic-session-ts');
       const e = new a.SessionStoreUnavailableError(5);
       console.log(JSON.stringify([e instanceof b.SessionError, e.code, e.message, e.name, e.waitedMs]))`,
      'commonjs',
    );
    expect(same).to.deep.equal([
      true,
      'ERR_SESSION_STORE_UNAVAILABLE',
      'session store is unavailable',
      'SessionStoreUnavailableError',
      5,
    ]);
  });
});
