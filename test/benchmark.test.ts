import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One short round of `contenders` × `workloads`, no memory check, results in `out`. */
function quickRound(contenders: string, workloads: string, out: string): Promise<{ stdout: string }> {
  return run(
    process.execPath,
    [
      'benchmark/run.mjs',
      '--quick',
      '--contenders', contenders,
      '--workloads', workloads,
      '--duration', '0.2',
      '--warmup', '0',
      '--rounds', '1',
      '--no-memory',
      '--out', out,
    ],
    { cwd: root, maxBuffer: 10 * 2 ** 20 },
  );
}
const root = resolve(import.meta.dirname, '..');

interface Row {
  contender: string;
  label: string;
  mode: string;
  median: number;
  min: number;
  max: number;
  rounds: number[];
  ratio: number;
  cpuMicrosPerRequest: number;
  cpuRatio: number;
  failedRequests: number;
  notes: string[];
  targetsMet?: Array<{ what: string; met: boolean }>;
  redisCommands?: Record<string, number>;
  redisCommandsPerRequest?: number;
  cache?: { hits: number; misses: number; flushes: number; evictions: number; entries: number; max: number; tracking: boolean };
  cacheHitRate?: number;
}

interface Report {
  machine: { cpu: string; cores: number; node: string };
  settings: { rounds: number; duration: number; connections: number; quick: boolean };
  workloads: Array<{ workload: string; label: string; rows: Row[] }>;
  memory: {
    settings: { requests: number; ttlMs: number };
    rows: Array<{
      id: string;
      cacheMax?: number;
      cache?: { evictions: number; invalidations: number; flushes: number };
      workload: string;
      requests: number;
      failed: number;
      heapBeforeMB: number;
      heapAfterMB: number;
      sessionsAfter: number;
      heapAfterExpiryMB: number;
      sessionsAfterExpiry: number;
      bounded: boolean;
    }>;
  };
}

// Runs the benchmark's quick mode on two contenders and checks what it writes.
// No timing is asserted: only that every measured request was answered
// correctly and that the results have the shape the README and chart rely on.
describe('benchmark (npm run bench -- --quick)', function () {
  this.timeout(120_000);
  let out: string;
  let report: Report;
  let stdout: string;

  before(async function () {
    if (!existsSync(join(root, 'dist/cjs/lib/index.js'))) {
      throw new Error('the benchmark runs against dist/: run `npm run build` first (npm test does)');
    }
    out = mkdtempSync(join(tmpdir(), 'kgs-bench-test-'));
    ({ stdout } = await run(
      process.execPath,
      [
        'benchmark/run.mjs',
        '--quick',
        '--contenders', 'bare,ours-memory-defer',
        '--workloads', 'read,untouched',
        '--duration', '0.3',
        '--warmup', '0.1',
        '--memory-requests', '3000',
        '--out', out,
      ],
      { cwd: root, maxBuffer: 10 * 2 ** 20 },
    ));
    report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Report;
  });

  after(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('records the machine and the settings', () => {
    expect(report.machine.cores).to.be.a('number').above(0);
    expect(report.machine.cpu).to.be.a('string').not.empty;
    expect(report.machine.node).to.equal(process.version);
    expect(report.settings).to.include({ rounds: 3, duration: 0.3, connections: 10, quick: true });
    expect(stdout).to.include(`${report.machine.cores} cores`);
  });

  it('measures every contender in every workload, three rounds each, with no failed request', () => {
    expect(report.workloads.map((w) => w.workload)).to.deep.equal(['read', 'untouched']);
    for (const workload of report.workloads) {
      expect(workload.rows.map((r) => r.contender)).to.deep.equal(['bare', 'ours-memory-defer']);
      for (const row of workload.rows) {
        expect(row.rounds, row.contender).to.have.lengthOf(3);
        expect(row.min).to.be.above(0);
        expect(row.min).to.be.at.most(row.median);
        expect(row.median).to.be.at.most(row.max);
        expect(row.cpuMicrosPerRequest).to.be.above(0);
        expect(row.cpuRatio).to.be.above(0);
        // a wrong body, an error or a non-2xx answer on any measured request lands here
        expect(row.failedRequests, `${workload.workload}/${row.contender}`).to.equal(0);
        expect(row.notes, `${workload.workload}/${row.contender}`).to.deep.equal([]);
      }
      const [bare, ours] = workload.rows as [Row, Row];
      expect(bare.ratio).to.equal(1);
      expect(ours.ratio).to.be.closeTo(ours.median / bare.median, 1e-9);
      expect(ours.mode).to.equal('plain');
      // this package's rows carry the targets with a verdict, whatever it is
      expect(ours.targetsMet).to.be.an('array').that.is.not.empty;
    }
  });

  it('shows in the memory check that expired sessions are freed', () => {
    expect(report.memory.settings.requests).to.equal(3000);
    expect(report.memory.rows.map((r) => r.workload)).to.deep.equal(['read', 'untouched']);
    for (const row of report.memory.rows) {
      expect(row.failed, row.workload).to.equal(0);
      expect(row.sessionsAfter, row.workload).to.be.above(0);
      expect(row.sessionsAfterExpiry, row.workload).to.equal(0);
      expect(row.bounded, row.workload).to.equal(true);
    }
  });

  it('writes a Markdown table and an SVG chart naming each contender', () => {
    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    const svg = readFileSync(join(out, 'chart.svg'), 'utf8');
    expect(md).to.match(/^\| contender \| returning, reads \| untouched route \|/);
    expect(md).to.match(/\| koa-generic-session-ts, MemoryStore, defer \| \*\*\d+\.\d\d×\*\* \(CPU \d+\.\d\d×\) \|/);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).to.equal(true);
    expect(svg.trimEnd().endsWith('</svg>')).to.equal(true);
    for (const label of ['bare Koa (ceiling)', 'koa-generic-session-ts, MemoryStore, defer']) {
      expect(md).to.include(label);
      expect(svg).to.include(label);
    }
  });
});

// The workloads of rolling: { renewAfter } and hashIds, beside the plain ones they are compared with.
describe('benchmark: rolling with renewAfter and hashIds workloads (--quick)', function () {
  this.timeout(120_000);

  it('measure this package with no failed request; between renewals a read sets no cookie', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kgs-bench-test-'));
    try {
      await quickRound('bare,ours-memory-eager', 'read,rolling-renew,read-hashed,change-hashed', out);
      const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Report;
      expect(report.workloads.map((w) => w.workload)).to.deep.equal(['read', 'rolling-renew', 'read-hashed', 'change-hashed']);
      for (const workload of report.workloads) {
        expect(workload.rows.map((r) => r.contender)).to.deep.equal(['bare', 'ours-memory-eager']);
        for (const row of workload.rows) {
          expect(row.failedRequests, `${workload.workload}/${row.contender}`).to.equal(0);
          // a cookie set by a read between renewals is reported here as a note
          expect(row.notes, `${workload.workload}/${row.contender}`).to.deep.equal([]);
        }
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

// RedisStore with its cache: measured like the other contenders, plus the share of reads
// its cache answered (from cacheStats() before and after each round) and the Redis commands
// a request sends with it. No timing is asserted.
describe('benchmark: RedisStore with its cache (--quick)', function () {
  this.timeout(120_000);

  it('answers every returning visitor from the cache, with no Redis command on a read and one script on a change', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kgs-bench-test-'));
    try {
      const { stdout } = await quickRound('bare,ours-redis-cache', 'new,read,change', out);
      const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Report;
      expect(report.workloads.map((w) => w.workload)).to.deep.equal(['new', 'read', 'change']);
      const rows = Object.fromEntries(report.workloads.map((w) => [w.workload, w.rows.find((r) => r.contender === 'ours-redis-cache')!]));
      for (const [workload, row] of Object.entries(rows)) {
        expect(row.failedRequests, workload).to.equal(0);
        // a flush or tracking off at the end of a round would be noted
        expect(row.notes, workload).to.deep.equal([]);
        expect(row.cache!.tracking, workload).to.equal(true);
        expect(row.cache!.flushes, workload).to.equal(0);
      }
      // returning visitors' sessions were cached when they logged in: no read misses
      for (const workload of ['read', 'change']) {
        expect(rows[workload]!.cache!.hits, workload).to.be.above(0);
        expect(rows[workload]!.cache!.misses, workload).to.equal(0);
        expect(rows[workload]!.cacheHitRate, workload).to.equal(1);
      }
      // a new visitor reads nothing: no hit rate; its session is written with one script and kept
      expect(rows.new!.cacheHitRate).to.equal(undefined);
      expect(rows.new!.cache!.entries).to.be.above(0);
      expect(rows.read!.redisCommandsPerRequest).to.equal(0);
      expect(rows.change!.redisCommands).to.deep.equal({ evalsha: 1 });
      expect(rows.new!.redisCommands).to.deep.equal({ evalsha: 1 });
      expect(stdout).to.include('cache hits 100 %');
      expect(readFileSync(join(out, 'latest.md'), 'utf8')).to.match(
        /\| koa-generic-session-ts, RedisStore, cache \|[^\n]+· none · 100 % hits \|/,
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("memory check: the cache holds at most its max, and nothing once the sessions expired in Redis", async () => {
    const memory = (await import(pathToFileURL(join(root, 'benchmark/memory.mjs')).href)) as {
      CACHE_SMALL_MAX: number;
      runMemoryCheck: (options: Record<string, unknown>) => Promise<Report['memory']>;
    };
    const requests = 3 * memory.CACHE_SMALL_MAX;
    const { rows } = await memory.runMemoryCheck({ stores: ['redis-cache'], workloads: ['new', 'read'], requests });
    expect(rows.map((r) => [r.workload, r.cacheMax])).to.deep.equal([
      ['new', memory.CACHE_SMALL_MAX],
      ['new', 10_000],
      ['read', 10_000],
    ]);
    for (const row of rows) {
      const what = `${row.workload}, max ${row.cacheMax}`;
      expect(row.failed, what).to.equal(0);
      expect(row.sessionsAfter, what).to.be.above(0).and.at.most(row.cacheMax!);
      expect(row.sessionsAfterExpiry, what).to.equal(0);
      expect(row.bounded, what).to.equal(true);
    }
    // more new visitors than the small max: the cache stayed full and evicted the rest
    const [small, large] = rows;
    expect(small!.sessionsAfter).to.equal(memory.CACHE_SMALL_MAX);
    expect(small!.cache!.evictions).to.be.at.least(requests - memory.CACHE_SMALL_MAX);
    expect(large!.sessionsAfter).to.equal(requests);
  });

  it('invalidation.mjs: every change in one process reaches the other process as an invalidation', async () => {
    const { stdout } = await run(process.execPath, ['benchmark/invalidation.mjs', '--samples', '20', '--json'], {
      cwd: root,
      maxBuffer: 10 * 2 ** 20,
    });
    const result = JSON.parse(stdout) as { samples: number; delaysMs: number[]; median: number; p99: number; max: number };
    expect(result.samples).to.equal(20);
    expect(result.delaysMs).to.have.lengthOf(20);
    for (const value of [...result.delaysMs, result.median, result.p99, result.max]) expect(Number.isFinite(value)).to.equal(true);
    expect(result.median).to.be.at.most(result.p99);
    expect(result.p99).to.be.at.most(result.max);
  });
});

// The load generator's promise to the workloads: each connection drives its own
// returning visitors, so no two requests in flight share a session; `shared`
// (the overlapping-changes workload) has them overlap on purpose.
describe('benchmark harness: who shares a session', function () {
  this.timeout(30_000);

  async function mostInFlightPerCookie(shared: boolean): Promise<{ most: number; requests: number }> {
    const harness = (await import(pathToFileURL(join(root, 'benchmark/harness.mjs')).href)) as {
      drive: (options: Record<string, unknown>) => Promise<{ requests: number; errors: number; non2xx: number }>;
      CONNECTIONS: number;
    };
    const inFlight = new Map<string, number>();
    let most = 0;
    const server = createServer((req, res) => {
      const cookie = String(req.headers.cookie);
      const now = (inFlight.get(cookie) ?? 0) + 1;
      inFlight.set(cookie, now);
      most = Math.max(most, now);
      // answer a little later, as a server that does some work: requests of other connections arrive meanwhile
      setTimeout(() => {
        inFlight.set(cookie, inFlight.get(cookie)! - 1);
        res.end('ok');
      }, 2);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as { port: number };
      const cookies = Array.from({ length: 3 * harness.CONNECTIONS + 2 }, (_, i) => `visitor=${i}`);
      const result = await harness.drive({ baseUrl: `http://127.0.0.1:${port}`, path: '/', cookies, amount: 2000, shared });
      expect(result.errors + result.non2xx).to.equal(0);
      return { most, requests: result.requests };
    } finally {
      server.close();
    }
  }

  it('gives each connection its own visitors: never two requests of one session at once', async () => {
    const { most, requests } = await mostInFlightPerCookie(false);
    expect(requests).to.be.at.least(2000);
    expect(most).to.equal(1);
  });

  it('with shared, every connection walks the same visitors: requests of one session overlap', async () => {
    const { most } = await mostInFlightPerCookie(true);
    expect(most).to.be.above(1);
  });
});
