import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Every file path an exports map names, without the leading './'. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value.replace(/^\.\//, '')];
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

describe('npm tarball (npm pack --dry-run)', function () {
  this.timeout(60_000);
  let files: string[];
  const pkg = JSON.parse(readFileSync(root + 'package.json', 'utf8')) as {
    main: string;
    types: string;
    exports: Record<string, unknown>;
    typesVersions: Record<string, Record<string, string[]>>;
  };

  before(function () {
    if (!existsSync(root + 'dist/cjs/lib/cjs.js')) {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
    // --ignore-scripts: list what would ship, without running lifecycle scripts
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [report] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
    files = report!.files.map((f) => f.path);
  });

  it('ships LICENSE, README.md and package.json', () => {
    expect(files).to.include.members(['LICENSE', 'README.md', 'package.json']);
  });

  it('ships every file that exports, typesVersions, main and types point to', () => {
    expect(Object.keys(pkg.exports)).to.include.members(['.', './redis', './compat']);
    const targets = [...exportTargets(pkg.exports), ...exportTargets(pkg.typesVersions), pkg.main, pkg.types].map((p) =>
      p.replace(/^\.\//, ''),
    );
    expect(targets.length).to.be.greaterThan(10);
    const missing = targets.filter((t) => !files.includes(t));
    expect(missing, 'entry points missing from the tarball').to.deep.equal([]);
  });

  it('ships no tests, benchmarks or TypeScript sources (declarations only)', () => {
    const unwanted = files.filter(
      (f) =>
        /^(test|benchmark|example|scripts|lib|compat)\//.test(f) ||
        (/\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f)),
    );
    expect(unwanted).to.deep.equal([]);
  });
});
