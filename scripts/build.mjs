// Builds the package: one CommonJS build (dist/cjs) that both module systems
// load. Node's ESM loader imports CommonJS natively, so `import` and
// `require()` reach the same module instance: one copy of every class
// (`instanceof` holds across them) and one set of typings (a program that
// loads the package from .ts and .mts files sees one Koa augmentation and
// one SessionData to merge into). Node 20 cannot require() ESM, so the one
// copy has to be CommonJS.
import { execFileSync } from 'node:child_process';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.cjs.json'], { stdio: 'inherit' });
// Node reads .js as CommonJS below here, though the package is "type": "module"
writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }) + '\n');

// The entries that are the factory itself (`module.exports = session`) hang
// their exports off a function, where Node's ESM loader cannot see them: it
// finds a CommonJS module's named exports by reading its source
// (cjs-module-lexer). This never-run statement names them for it; `import {
// MemoryStore } from` then gets the very property `require()` returns.
for (const entry of ['dist/cjs/lib/cjs.js', 'dist/cjs/compat/cjs.js']) {
  const names = Object.keys(require(resolve(entry))).filter((name) => name !== 'default');
  appendFileSync(entry, `// named exports for ESM importers, read from the source by Node\n0 && (module.exports = { ${names.join(', ')} });\n`);
}
