// `npm start`: a signal sent to the npm process (what Docker, systemd and
// process managers do) reaches the demo server, which prints `stopped` and
// exits 0; no process is left and the port is free. The build is skipped
// (`-- --no-build`: `npm test` has built dist/, and a build here would empty
// dist/ under the other tests), but the signal still goes to npm's own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Pids of live processes in process group `pgid` (from /proc/<pid>/stat), zombies excluded. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // it ended meanwhile
    }
    // after "pid (comm)": state ppid pgrp ...; comm may hold spaces and parentheses
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') members.push(Number(entry));
  }
  return members;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

interface Started {
  npm: ChildProcess;
  port: number;
  output: () => string;
}

/** `npm start -- --no-build` with PORT=0 in its own process group, resolved once the server listens. */
async function npmStart(): Promise<Started> {
  // detached: npm leads a new process group, so whatever it starts can be found (and nothing else)
  const npm = spawn('npm', ['start', '--', '--no-build'], {
    cwd: root,
    env: { ...process.env, PORT: '0', REDIS_URL: '' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout!.on('data', (d: Buffer) => (output += d));
  npm.stderr!.on('data', (d: Buffer) => (output += d));
  const port = await new Promise<number>((resolve, reject) => {
    npm.stdout!.on('data', () => {
      const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
      if (match && output.includes('stop with Ctrl+C')) resolve(Number(match[1]));
    });
    npm.once('exit', (code) => reject(new Error(`npm start exited with ${code} before listening:\n${output}`)));
  });
  return { npm, port, output: () => output };
}

/** npm's exit, or a failure after `limitMs` (so the cleanup still runs when nothing exits). */
function exitOf(npm: ChildProcess, limitMs = 20_000): Promise<[number | null, NodeJS.Signals | null]> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`npm start still running ${limitMs}ms after the signal`)), limitMs);
  });
  const exited = once(npm, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return Promise.race([exited, limit]).finally(() => clearTimeout(timer));
}

/** Ends what is left of the group by pid (cleanup after a failed assertion). */
function killLeftovers(pgid: number): void {
  for (const pid of groupMembers(pgid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

describe('npm start stops on a signal sent to npm', function () {
  this.timeout(60_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to npm's pid: the server prints "stopped", everything exits 0, no process left, the port free`, async () => {
      const { npm, port, output } = await npmStart();
      const pgid = npm.pid!;
      try {
        expect(groupMembers(pgid).length).to.be.at.least(2);
        expect(await portIsFree(port)).to.equal(false);
        const exited = exitOf(npm);
        process.kill(npm.pid!, signal);
        const [code, killedBy] = await exited;
        expect({ code, killedBy }).to.deep.equal({ code: 0, killedBy: null });
        expect(output()).to.include(`${signal}: stopping\nstopped\n`);
        expect(groupMembers(pgid)).to.deep.equal([]);
        expect(await portIsFree(port)).to.equal(true);
      } finally {
        killLeftovers(pgid);
      }
    });
  }

  it('Ctrl+C in a terminal (SIGINT to the whole group, which npm forwards once more): one clean stop, exit 0', async () => {
    const { npm, port, output } = await npmStart();
    const pgid = npm.pid!;
    try {
      const exited = exitOf(npm);
      process.kill(-pgid, 'SIGINT');
      const [code, killedBy] = await exited;
      expect({ code, killedBy }).to.deep.equal({ code: 0, killedBy: null });
      expect(output()).to.include('SIGINT: stopping\nstopped\n');
      expect(groupMembers(pgid)).to.deep.equal([]);
      expect(await portIsFree(port)).to.equal(true);
    } finally {
      killLeftovers(pgid);
    }
  });
});
