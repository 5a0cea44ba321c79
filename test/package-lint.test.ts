import { expect } from 'chai';
import { bin, packed } from './support/packed.js';

interface AttwResolution {
  resolution?: { fileName: string };
}
interface AttwReport {
  analysis: {
    problems: unknown[];
    entrypoints: Record<string, { resolutions: Record<string, AttwResolution> }>;
  };
}

const ENTRIES = ['.', './redis', './compat'];
const RESOLUTIONS = ['node10', 'node16-cjs', 'node16-esm', 'bundler'];

describe('the packed package, as published (arethetypeswrong, publint)', function () {
  this.timeout(180_000);

  it('arethetypeswrong finds no problem, and every entry resolves to typings under node10, node16 (CJS and ESM) and bundler', async () => {
    const { tarball } = await packed();
    // the strict profile checks all four resolutions; no @types lookup, so it runs offline
    const { output } = await bin(
      '@arethetypeswrong/cli/dist/index.js',
      [tarball, '--profile', 'strict', '--no-definitely-typed', '--format', 'json'],
      process.cwd(),
    );
    const report = JSON.parse(output) as AttwReport;
    expect(report.analysis.problems, JSON.stringify(report.analysis.problems, null, 2)).to.deep.equal([]);
    const resolved: Record<string, string | undefined> = {};
    for (const entry of ENTRIES) {
      for (const kind of RESOLUTIONS) {
        resolved[`${entry} ${kind}`] = report.analysis.entrypoints[entry]?.resolutions[kind]?.resolution?.fileName;
      }
    }
    for (const [where, file] of Object.entries(resolved)) {
      expect(file, where).to.match(/\/node_modules\/koa-generic-session-ts\/dist\/.+\.d\.ts$/);
    }
  });

  it('publint reports nothing, suggestions included', async () => {
    const { tarball } = await packed();
    const { code, output } = await bin('publint/src/cli.js', ['run', tarball, '--strict', '--level', 'suggestion'], process.cwd());
    expect(code, output).to.equal(0);
    expect(output).to.include('All good!');
  });
});
