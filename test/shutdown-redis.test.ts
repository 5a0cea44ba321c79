import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { RedisServer } from './support/redis.js';

const fixture = fileURLToPath(new URL('./fixtures/shutdown-app.ts', import.meta.url));

interface User {
  cookie: string;
  sid: string;
  lastAcked: number;
}

describe('graceful shutdown of a real app on a real redis-server under load', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let child: ChildProcess | undefined;

  before(async () => {
    redis = await RedisServer.start({ label: 'shutdown' });
  });
  after(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await redis?.remove();
  });

  it('every request answered 200 has its session in Redis; the process exits 0 by itself', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        stdout += d;
        const match = /\{"port":(\d+)\}/.exec(stdout);
        if (match) resolve(Number(match[1]));
      });
      child!.once('exit', (code) => reject(new Error(`app exited early with ${code}: ${stderr}`)));
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    const users: User[] = Array.from({ length: 10 }, () => ({ cookie: '', sid: '', lastAcked: -1 }));
    let sent = 0;
    let stop = false;
    let signalled = false;
    const loops = users.map(async (user) => {
      for (let i = 0; !stop && i < 2000; i++) {
        sent++;
        if (sent === 300 && !signalled) {
          signalled = true;
          child!.kill('SIGTERM');
        }
        let res: Response;
        try {
          res = await fetch(`http://127.0.0.1:${port}/?i=${i}`, { headers: user.cookie ? { cookie: user.cookie } : {} });
          await res.text();
        } catch {
          // refused or reset once the server closes: not acknowledged
          if (signalled) return;
          continue;
        }
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        user.lastAcked = i;
        const set = res.headers.getSetCookie();
        if (set.length > 0) {
          user.cookie = set.map((c) => c.split(';')[0]).join('; ');
          user.sid = /koa\.sid=([^;]+)/.exec(user.cookie)![1]!;
        }
      }
    });
    await Promise.all(loops);
    stop = true;
    const [code] = await exited;

    expect(signalled).to.equal(true);
    expect(stdout).to.contain('closed');
    expect(stderr).to.not.match(/unhandled/i);
    expect(code).to.equal(0);
    let acked = 0;
    for (const user of users) {
      if (user.lastAcked < 0) continue;
      const stored = JSON.parse((await redis.command('GET', 'koa:sess:' + user.sid)) as string) as { last: number };
      // a request may have saved and then lost its response to the shutdown: never less than acknowledged
      expect(stored.last).to.be.at.least(user.lastAcked);
      acked += user.lastAcked + 1;
    }
    console.log(`      ${acked} requests acknowledged before shutdown, all of their sessions readable in Redis`);
    expect(acked).to.be.at.least(250);
  });
});
