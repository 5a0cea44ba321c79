// Memory check: is the heap of an app using MemoryStore bounded by the
// sessions alive, with expired sessions freed? For each workload, an app in
// its own process (started with --expose-gc, see memory-worker.mjs) takes
// 200,000 requests with a store ttl of 1 s; its heap after a full GC is read
// before the run, right after it, and once every session has expired. koa-generic-session@2.3.1's MemoryStore, which
// never frees a session, takes the new-visitor run too, for contrast.
//
// Run alone: node benchmark/memory.mjs [--quick] [--workloads a,b] [--requests n]
// (npm run bench runs it after the throughput rounds.)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { libDir } from './contenders.mjs';
import { parseArgs } from './harness.mjs';

export const MEMORY_TTL = 1000;
export const MEMORY_SWEEP = 500;
const POOL = 32;
const MB = 2 ** 20;
const WORKER = fileURLToPath(new URL('./memory-worker.mjs', import.meta.url));
export const MEMORY_WORKLOADS = ['new', 'read', 'change', 'untouched', 'rolling'];

/** Runs one check in a fresh process and resolves with its row. */
async function checkOne({ id, server, env, workload, requests }) {
  const child = fork(WORKER, [], {
    execArgv: ['--expose-gc'],
    env: {
      ...process.env,
      NODE_ENV: 'benchmark',
      ...env,
      BENCH_SERVER: server,
      BENCH_WORKLOAD: workload,
      BENCH_REQUESTS: String(requests),
      BENCH_TTL: String(MEMORY_TTL),
      BENCH_SWEEP: String(MEMORY_SWEEP),
      BENCH_POOL: String(POOL),
      BENCH_LIB: libDir(),
    },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  process.on('exit', kill);
  let result;
  child.on('message', (message) => {
    if (message?.type === 'result') result = message;
  });
  const timer = setTimeout(kill, 180_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  process.off('exit', kill);
  if (result === undefined) throw new Error(`memory check ${id}/${workload} exited (${signal ?? code}) without a result:\n${stderr.trim()}`);
  const { before, after, expired } = result;
  const grown = after.heapUsed - before.heapUsed;
  return {
    id,
    workload,
    requests: result.requests,
    failed: result.failed,
    seconds: Math.round(result.seconds * 10) / 10,
    heapBeforeMB: round1(before.heapUsed / MB),
    heapAfterMB: round1(after.heapUsed / MB),
    sessionsAfter: after.sessions,
    heapAfterExpiryMB: round1(expired.heapUsed / MB),
    sessionsAfterExpiry: expired.sessions,
    bytesPerSessionHeld: after.sessions > 0 && grown > 0 ? Math.round(grown / after.sessions) : undefined,
  };
}

const round1 = (x) => Math.round(x * 10) / 10;

/**
 * Runs the check for `workloads`; returns { settings, rows }. A row is
 * `bounded` when, once the ttl has passed, the store holds no more than the
 * returning visitors' pool and the heap is back within 3 MB of where it started.
 */
export async function runMemoryCheck({ quick = false, workloads = MEMORY_WORKLOADS, requests, log = () => {} } = {}) {
  const total = requests ?? (quick ? 20_000 : 200_000);
  const rows = [];
  for (const workload of workloads) {
    if (!MEMORY_WORKLOADS.includes(workload)) throw new Error(`unknown workload ${workload}`);
    // the untouched route is measured in defer mode, as in the throughput rounds
    const defer = workload === 'untouched';
    const row = await checkOne({
      id: 'ours-memory-' + (defer ? 'defer' : 'eager'),
      server: 'ours.mjs',
      env: {
        BENCH_STORE: 'memory',
        BENCH_DEFER: defer ? '1' : '0',
        BENCH_VARIANT: workload === 'rolling' ? 'rolling' : defer ? 'defer' : 'plain',
      },
      workload,
      requests: total,
    });
    row.bounded =
      row.failed === 0 &&
      row.sessionsAfterExpiry === 0 &&
      row.heapAfterExpiryMB - row.heapBeforeMB <= 3;
    rows.push(row);
    log(`  ${workload}: ${describe(row)}`);
  }
  if (!quick && workloads.includes('new')) {
    // the store this package replaces, for contrast: it ignores the ttl and frees nothing
    const row = await checkOne({
      id: 'kgs-memory',
      server: 'kgs.mjs',
      env: { BENCH_STORE: 'memory', BENCH_VARIANT: 'plain' },
      workload: 'new',
      // it slows down as its object of sessions grows; a quarter of the requests shows the trend
      requests: Math.round(total / 4),
    });
    row.bounded = row.sessionsAfterExpiry === 0 && row.heapAfterExpiryMB - row.heapBeforeMB <= 3;
    rows.push(row);
    log(`  new (koa-generic-session@2.3.1 MemoryStore): ${describe(row)}`);
  }
  return { settings: { requests: total, ttlMs: MEMORY_TTL, sweepIntervalMs: MEMORY_SWEEP, pool: POOL }, rows };
}

function describe(row) {
  return (
    `${row.requests} requests in ${row.seconds} s; heap ${row.heapBeforeMB} MB → ${row.heapAfterMB} MB ` +
    `holding ${row.sessionsAfter} sessions → ${row.heapAfterExpiryMB} MB holding ${row.sessionsAfterExpiry} ` +
    `after the ttl${row.failed ? `; ${row.failed} failed` : ''}`
  );
}

/** The check as a text table, or Markdown with `md`. */
export function formatMemory(memory, md = false) {
  const head = ['workload', 'store', 'requests', 'heap before', 'heap after run', 'sessions held', 'heap after ttl', 'sessions held', 'bounded'];
  const body = memory.rows.map((r) => [
    r.workload,
    r.id === 'kgs-memory' ? 'koa-generic-session@2.3.1 MemoryStore' : `this package's MemoryStore${r.id.endsWith('defer') ? ', defer' : ''}`,
    r.requests.toLocaleString('en-US'),
    `${r.heapBeforeMB} MB`,
    `${r.heapAfterMB} MB`,
    String(r.sessionsAfter ?? '-'),
    `${r.heapAfterExpiryMB} MB`,
    String(r.sessionsAfterExpiry ?? '-'),
    r.bounded ? 'yes' : 'NO',
  ]);
  const s = memory.settings;
  const note =
    `Heap used after a full GC. Requests injected in-process, ten at a time; store ttl ${s.ttlMs} ms, ` +
    `sweep every ${s.sweepIntervalMs} ms; returning visitors: ${s.pool} sessions, logged in again every 200 ms.`;
  if (md) {
    return [
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...body.map((cells) => `| ${cells.join(' | ')} |`),
      '',
      note,
      '',
    ].join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(head), ...body.map(line), note].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  const memory = await runMemoryCheck({
    quick: args.quick === true,
    workloads: typeof args.workloads === 'string' ? args.workloads.split(',') : undefined,
    requests: args.requests ? Number(args.requests) : undefined,
    log: console.log,
  });
  console.log(formatMemory(memory));
  if (memory.rows.some((r) => !r.bounded && r.id !== 'kgs-memory')) process.exitCode = 1;
}
