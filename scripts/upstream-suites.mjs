// Runs koa-generic-session's own test suites, unchanged, against this package
// as it would be published: `npm pack`ed, installed from the tarball into a
// scratch project whose lib/session.js (2.x) or index.js (1.x) is nothing but
// `module.exports = require('koa-generic-session-ts')`, with the suite's own
// devDependencies at the versions its package.json names, and mocha run as
// its Makefile runs it, with unhandled rejections fatal.
//
//   node scripts/upstream-suites.mjs <koajs/generic-session git dir or checkout> [tag...]
//   KGS_UPSTREAM_REPO=<dir> npm run test:upstream
//
// Needs the npm registry. Tags default to v2.3.1 (koa 2) and 1.11.7 (koa 1).
// --keep leaves the scratch projects in place and prints where they are.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const positional = args.filter((a) => a !== '--keep');
const repo = positional.shift() ?? process.env.KGS_UPSTREAM_REPO;
const tags = positional.length > 0 ? positional : ['v2.3.1', '1.11.7'];

if (!repo) {
  console.error(
    'usage: node scripts/upstream-suites.mjs <path to a koajs/generic-session git dir or checkout> [tag...]\n' +
      '   or: KGS_UPSTREAM_REPO=<path> npm run test:upstream',
  );
  process.exit(2);
}

// What the suites require besides the package under test; the versions come from the tag's package.json.
const SUITE_PACKAGES = ['koa', 'supertest', 'should', 'mm', 'pedding', 'uid-safe', 'mocha'];

function git(...gitArgs) {
  return execFileSync('git', ['-C', resolve(repo), ...gitArgs], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function run(command, commandArgs, cwd) {
  execFileSync(command, commandArgs, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

function pack(into) {
  run(process.execPath, [join(root, 'scripts/build.mjs')], root);
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', into], { cwd: root, encoding: 'utf8' });
  return join(into, out.trim().split('\n').pop());
}

/** The tag's test/ folder as it is, plus the shim and a package.json naming the suite's dependencies. */
function prepare(tag, tarball, work) {
  const dir = join(work, tag);
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['-C', resolve(repo), 'archive', tag, 'test'], { maxBuffer: 64 << 20 });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });

  const upstream = JSON.parse(git('show', `${tag}:package.json`));
  const named = { ...upstream.dependencies, ...upstream.devDependencies };
  const versions = SUITE_PACKAGES.filter((name) => named[name]).map((name) => `${name}@${named[name]}`);
  // 2.x tests require '../../lib/session' and '..' (its main, lib/session); 1.x require '../../' and '..'
  const main = /^(\.\/)?lib\/session(\.js)?$/.test(upstream.main ?? '') ? 'lib/session.js' : 'index.js';
  mkdirSync(dirname(join(dir, main)), { recursive: true });
  writeFileSync(join(dir, main), "module.exports = require('koa-generic-session-ts');\n");
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `kgs-upstream-${tag.replace(/[^\w.-]/g, '')}`, private: true, main }, null, 2) + '\n',
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', tarball, ...versions], dir);
  return { dir, versions };
}

/** mocha as the Makefile runs it (tap reporter, 3 s timeout, --require should), in-process so the flag applies. */
function runSuite(dir) {
  const tests = readdirSync(join(dir, 'test'))
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => join('test', f));
  const result = spawnSync(
    process.execPath,
    [
      '--unhandled-rejections=strict',
      join(dir, 'node_modules/mocha/bin/_mocha'),
      '--reporter',
      'tap',
      '--timeout',
      '3000',
      '--require',
      'should',
      ...tests,
    ],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'test' }, maxBuffer: 64 << 20 },
  );
  const output = result.stdout + result.stderr;
  const count = (label) => Number(new RegExp(`^# ${label} (\\d+)$`, 'm').exec(output)?.[1] ?? NaN);
  const passed = count('pass');
  const failed = count('fail');
  const total = count('tests');
  return { output, passed, failed, total, status: result.status, signal: result.signal };
}

const work = mkdtempSync(join(tmpdir(), 'kgs-upstream-'));
let ok = true;
try {
  const tarball = pack(work);
  console.log(`packed ${tarball}`);
  for (const tag of tags) {
    const { dir, versions } = prepare(tag, tarball, work);
    console.log(`\n== koa-generic-session ${tag} test/ (${versions.join(', ')})`);
    const r = runSuite(dir);
    process.stdout.write(r.output);
    const complete = Number.isFinite(r.total) && Number.isFinite(r.passed) && r.passed === r.total && r.status === 0;
    if (!complete) ok = false;
    console.log(
      Number.isFinite(r.total)
        ? `${tag}: ${r.passed} passed, ${r.failed} failed (mocha exit ${r.status ?? r.signal})`
        : `${tag}: the suite did not run to its end (mocha exit ${r.status ?? r.signal}): 0 passed`,
    );
  }
} finally {
  if (keep) console.log(`\nscratch projects kept in ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
