// `npm start`: builds the package, then runs the demo server in this very
// process. package.json starts it with `exec`, so the shell npm spawns is
// replaced by this process: the SIGTERM or SIGINT npm forwards to its child
// reaches the server, which stops cleanly. (dash, Debian's sh, would fork
// instead, die of the signal itself and leave the server running.)
//
// `npm start -- --no-build` skips the build (dist/ must exist).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const SIGNALS = ['SIGINT', 'SIGTERM'];

async function build() {
  const script = fileURLToPath(new URL('./build.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: 'inherit' });
  // a signal during the build stops the build, then this process
  let stoppedBy;
  const forward = (signal) => {
    stoppedBy = signal;
    child.kill(signal);
  };
  for (const signal of SIGNALS) process.on(signal, forward);
  const [code, signal] = await once(child, 'exit');
  for (const s of SIGNALS) process.off(s, forward);
  if (stoppedBy !== undefined) {
    console.error(`${stoppedBy}: build stopped`);
    process.exit(1);
  }
  if (code !== 0) {
    console.error(`the build failed (${signal ?? `exit code ${code}`})`);
    process.exit(1);
  }
}

if (!process.argv.includes('--no-build')) await build();
await import('../example/server.mjs');
