import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const root = fileURLToPath(new URL('../..', import.meta.url));
const NAME = 'koa-generic-session-ts';

export interface Packed {
  /** The tarball `npm pack` made of the built package. */
  tarball: string;
  /** A project with the tarball unpacked in node_modules, beside links to this repository's dependencies. */
  consumer: string;
}

let packing: Promise<Packed> | undefined;

/**
 * Packs the built package once per test run, as it would be published, and
 * unpacks it where an app would have it. Removed when the process exits.
 */
export function packed(): Promise<Packed> {
  packing ??= pack();
  return packing;
}

async function pack(): Promise<Packed> {
  const dir = mkdtempSync(join(tmpdir(), 'kgs-packed-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  const tarball = join(dir, filename);
  const consumer = join(dir, 'consumer');
  const modules = join(consumer, 'node_modules');
  mkdirSync(join(modules, NAME), { recursive: true });
  await run('tar', ['xzf', tarball, '-C', join(modules, NAME), '--strip-components=1']);
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry !== NAME) symlinkSync(join(root, 'node_modules', entry), join(modules, entry));
  }
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }) + '\n');
  return { tarball, consumer };
}

/** Runs a binary of this repository's dependencies; resolves with its output whatever its exit code. */
export async function bin(
  path: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(root, 'node_modules', path), ...args], {
      cwd,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
    return { code: typeof code === 'number' ? code : 1, output: stdout + stderr };
  }
}
