// What an outage prints: a Koa app with Koa's default error handling, on a
// real redis-server that is killed while requests keep coming, then restarted.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import request from 'supertest';
import { RedisServer, stopAllRedis } from './support/redis.js';

describe('a Redis outage under load, with Koa default error handling', () => {
  let redis: RedisServer;
  let child: ChildProcess | undefined;
  before(async () => {
    redis = await RedisServer.start({ label: 'outage-log' });
  });
  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await stopAllRedis();
  });

  it('prints two lines in all (outage begins, store serves again), not a stack per failed request', async () => {
    const file = fileURLToPath(new URL('./support/outage-log-app.ts', import.meta.url));
    child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, REDIS_URL: redis.url, RECONNECT_TIMEOUT: '100', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        stdout += d;
        const match = /listening (\d+)/.exec(stdout);
        if (match) resolve(Number(match[1]));
      });
      child!.once('exit', (code) => reject(new Error(`the app exited with ${code}: ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const first = await request(base).get('/').expect(200);
    const cookie = (first.headers['set-cookie'] as unknown as string[]).map((line) => line.split(';')[0]).join('; ');

    // a loop of requests, 10 at a time, as long as the outage lasts
    const statuses = new Map<number, number>();
    const round = async () => {
      const results = await Promise.all(Array.from({ length: 10 }, () => request(base).get('/').set('Cookie', cookie)));
      for (const res of results) {
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 503) expect(res.text).to.equal('Service Unavailable');
      }
      return results.map((res) => res.status);
    };
    await redis.kill();
    while ((statuses.get(503) ?? 0) < 100) await round();
    await redis.start();
    while (!(await round()).every((status) => status === 200));

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).to.equal(0);
    const lines = stderr.split('\n').filter((line) => line.trim() !== '');
    console.log(`      ${statuses.get(503)} requests answered 503; stderr lines: ${lines.length}`);
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^koa-generic-session: session store outage: requests answer 503/);
    expect(lines[1]).to.match(/^koa-generic-session: session store serves again after [\d.]+s; \d+ request\(s\) failed with 503/);
  });
});
