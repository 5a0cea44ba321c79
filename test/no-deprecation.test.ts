// Loads the built package by name in koa v1, v2 and v3 apps, each in its own
// Node process, and fails if anything is printed on stderr. koa v2 reports
// generator middleware through `depd`, which writes to stderr once per call
// site (or emits process 'deprecation' instead when someone listens): a fresh
// process with no listener is the one place it is sure to show. A control app
// that does use a generator proves the test sees that deprecation.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('./support/deprecation-app.mjs', import.meta.url));
const KOA_DEPRECATION = /koa deprecated Support for generators/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function runApp(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development' };
  // nothing may silence or redirect a deprecation in the child
  for (const name of ['NODE_OPTIONS', 'NO_DEPRECATION', 'NODE_NO_WARNINGS', 'NODE_PENDING_DEPRECATION']) delete env[name];
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

describe('no deprecation printed in koa v1, v2 and v3 apps (built package, own process)', function () {
  this.timeout(20_000);

  before(() => {
    let built: number;
    try {
      built = Math.min(statSync(join(root, 'dist/cjs/compat/cjs.js')).mtimeMs, statSync(join(root, 'dist/cjs/lib/cjs.js')).mtimeMs);
    } catch {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
    if (built < Math.max(newestSource(join(root, 'lib')), newestSource(join(root, 'compat')))) {
      throw new Error('dist/ is older than lib/ or compat/: run `npm run build` first (npm test does)');
    }
  });

  const cases: Array<[koa: string, entry: string]> = [
    ['koa1', 'main'],
    ['koa1', 'compat'],
    ['koa2', 'main'],
    ['koa', 'main'],
  ];
  for (const [koa, entry] of cases) {
    for (const mode of ['eager', 'defer']) {
      for (const loader of ['import', 'require']) {
        const name = `${koa === 'koa' ? 'koa3' : koa}, ${entry === 'main' ? "the package's main entry" : 'koa-generic-session-ts/compat'}, ${mode} mode, loaded with ${loader}`;
        it(`${name}: sessions work and nothing is printed`, async () => {
          const run = await runApp([koa, entry, mode, loader]);
          expect(run.stderr, 'stderr').to.equal('');
          expect(run.code).to.equal(0);
          expect(JSON.parse(run.stdout)).to.deep.equal(['1', '2']);
        });
      }
    }
  }

  it('control: the same koa v2 app with one generator middleware prints koa\'s deprecation, so the test can see it', async () => {
    const run = await runApp(['koa2', 'control', 'eager', 'import']);
    expect(run.stderr).to.match(KOA_DEPRECATION);
    expect(JSON.parse(run.stdout)).to.deep.equal(['1', '2']);
  });

  it('the koa v1 entry in a koa v2 app is a generator like any other: koa v2 reports it (use the main entry there)', async () => {
    const run = await runApp(['koa2', 'compat', 'eager', 'require']);
    expect(run.stderr).to.match(KOA_DEPRECATION);
    expect(JSON.parse(run.stdout)).to.deep.equal(['1', '2']);
  });
});
