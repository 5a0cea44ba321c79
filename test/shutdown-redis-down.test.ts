import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { RedisServer, stopAllRedis } from './support/redis.js';

const fixture = fileURLToPath(new URL('./fixtures/close-redis-down.ts', import.meta.url));

interface Report {
  statuses: Array<[string, string]>;
  active: string[];
  client: string;
}

/** Runs the fixture; kills `redis` once the store is connected unless the store is to stay available. */
async function closeWhen(state: 'available' | 'pending' | 'unavailable', redis: RedisServer) {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, REDIS_URL: redis.url, STATE: state },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdout.on('data', (d: Buffer) => {
    const before = stdout;
    stdout += d;
    if (state !== 'available' && !before.includes('connected\n') && stdout.includes('connected\n')) void redis.kill();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`no report (exit ${code}): ${stdout}${stderr}`);
  const exit = /exit ([\d.]+)ms after close\(\)/.exec(stdout);
  return { code, stderr, report: JSON.parse(line) as Report, exitMs: exit ? Number(exit[1]) : NaN };
}

describe('close() on a real redis-server, up and down: nothing holds the process, the status ends closed', function () {
  this.timeout(30_000);
  let redis: RedisServer;

  beforeEach(async () => {
    redis ??= await RedisServer.start({ label: 'close-down' });
    if (!redis.running) await redis.start();
  });
  after(stopAllRedis);

  it('Redis down and the store unavailable: no timer or handle left, exits by itself, unavailable -> closed', async () => {
    const { code, stderr, report, exitMs } = await closeWhen('unavailable', redis);
    expect(report.active).to.deep.equal([]);
    expect(report.statuses).to.deep.equal([
      ['available', 'pending'],
      ['pending', 'unavailable'],
      ['unavailable', 'closed'],
    ]);
    expect(code).to.equal(0);
    expect(stderr).to.equal('');
    console.log(`      exited ${exitMs}ms after close() resolved`);
  });

  it('Redis down and the store pending: no timer or handle left, exits by itself, pending -> closed', async () => {
    const { code, stderr, report, exitMs } = await closeWhen('pending', redis);
    expect(report.active).to.deep.equal([]);
    expect(report.statuses).to.deep.equal([
      ['available', 'pending'],
      ['pending', 'closed'],
    ]);
    expect(code).to.equal(0);
    expect(stderr).to.equal('');
    console.log(`      exited ${exitMs}ms after close() resolved`);
  });

  it('Redis up: the client quits, nothing is left, available -> closed', async () => {
    const { code, stderr, report } = await closeWhen('available', redis);
    expect(report.active).to.deep.equal([]);
    expect(report.client).to.equal('end');
    expect(report.statuses).to.deep.equal([['available', 'closed']]);
    expect(code).to.equal(0);
    expect(stderr).to.equal('');
  });
});
