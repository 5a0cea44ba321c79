// npm run bench: throughput and Redis cost of each contender against bare Koa.
//
// Every contender is a Koa server in its own process on a free 127.0.0.1 port;
// this process drives it with autocannon (10 connections), alternating the
// contenders round by round so that drift of the machine hits all of them.
// Options (all optional):
//   --quick                 short smoke run (about 1 s per cell, small memory check)
//   --contenders a,b        ids from benchmark/contenders.mjs (default: all)
//   --workloads a,b         new, read, change, contended, untouched, rolling, rolling-renew, read-hashed,
//                           change-hashed (default: all)
//   --duration s --rounds n --warmup s --pool n
//   --out dir               where latest.json, latest.md and chart.svg go (default benchmark/results)
//   --patched dir[,dir]     also run this package's contenders from other builds (their dist/cjs/lib): A/B in one run
//   --no-memory             skip the memory check (benchmark/memory.mjs)
//   --memory-requests n     requests per workload in the memory check (default 200,000; 20,000 with --quick)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTENDERS, WORKLOADS, libDir, targetsFor, unavailable } from './contenders.mjs';
import { CONNECTIONS, drive, loginPool, median, parseArgs, startServer } from './harness.mjs';
import { commandDelta, commandStats, monitorCommands, redisCommand, startRedis } from './redis.mjs';
import { renderChart } from './chart.mjs';
import { MEMORY_WORKLOADS, runMemoryCheck, formatMemory } from './memory.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = parseArgs(process.argv.slice(2));
const quick = args.quick === true;
const settings = {
  quick,
  duration: Number(args.duration ?? (quick ? 0.5 : 1.5)),
  rounds: Number(args.rounds ?? 3),
  warmup: Number(args.warmup ?? (quick ? 0.2 : 0.5)),
  pool: Number(args.pool ?? (quick ? CONNECTIONS : 32)),
  connections: CONNECTIONS,
};
if (!(settings.rounds >= 1 && settings.duration > 0 && settings.warmup >= 0 && settings.pool >= 1)) {
  throw new Error(`bad settings: ${JSON.stringify(settings)}`);
}
const outDir = resolve(args.out ?? resolve(here, 'results'));
/** Requests per Redis contender and workload watched under MONITOR to name its commands. */
const SAMPLE = quick ? 100 : 200;

function pick(all, list, what) {
  if (list === undefined || list === true) return all;
  const ids = String(list).split(',').filter(Boolean);
  for (const id of ids) {
    if (!all.some((x) => x.id === id)) throw new Error(`unknown ${what} ${id}; known: ${all.map((x) => x.id).join(', ')}`);
  }
  return all.filter((x) => ids.includes(x.id));
}

const wanted = pick(CONTENDERS, args.contenders, 'contender');
if (!wanted.some((c) => c.id === 'bare')) wanted.unshift(CONTENDERS[0]);
if (typeof args.patched === 'string') {
  // A/B in one run: each of this package's contenders again, built from other trees
  const libs = args.patched.split(',').map((dir) => resolve(dir));
  for (const c of wanted.filter((x) => x.ours)) {
    const twins = libs.map((lib, i) => {
      const n = libs.length === 1 ? '' : String(i + 1);
      return { ...c, id: `${c.id}+patch${n}`, label: `${c.label} (patched${n ? ' ' + n : ''})`, lib };
    });
    wanted.splice(wanted.indexOf(c) + 1, 0, ...twins);
  }
}
const workloads = pick(WORKLOADS, args.workloads, 'workload');
const skipped = [];
const contenders = wanted.filter((c) => {
  const why = unavailable(c);
  if (why) skipped.push({ id: c.id, reason: why });
  return !why;
});

function machine() {
  const cpus = os.cpus();
  let redisVersion;
  try {
    redisVersion = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1];
  } catch {
    redisVersion = undefined;
  }
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    redis: redisVersion,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const fmtInt = (n) => (n === undefined || Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const fmtRatio = (n) => (n === undefined ? '-' : n.toFixed(2));
// rounded down, so a rate short of all is never shown as 100 %
const fmtPercent = (n) =>
  n === undefined ? '-' : n === 1 || n === 0 ? `${100 * n} %` : `${(Math.floor(n * 10_000) / 100).toFixed(2)} %`;
const log = (...a) => console.log(...a);

/** Whether a contender is measured in a workload (see `workloads` and `only` in contenders.mjs). */
function runsIn(contender, workload) {
  if (contender.id === 'bare') return true;
  if (workload.only !== undefined) return workload.only.includes(contender.id.replace(/\+patch\d*$/, ''));
  return contender.workloads === undefined || contender.workloads.includes(workload.id);
}

/** Measures one workload: all contenders' servers up at once, rounds alternate between them. */
async function measureWorkload(workload, redis) {
  if (redis) await redisCommand(redis.port, 'FLUSHALL');
  const runs = [];
  try {
    const started = await Promise.allSettled(
      contenders.filter((c) => runsIn(c, workload)).map((contender) => {
        const variant = workload.variant === 'defer' && !contender.hasDefer ? 'plain' : workload.variant;
        const env = { ...contender.env, BENCH_VARIANT: variant, BENCH_LIB: contender.lib ?? libDir() };
        if (contender.redis) env.BENCH_REDIS_URL = redis.url;
        return startServer(contender.server, env).then((server) => {
          runs.push({ contender, variant, server, rounds: [], notes: [] });
        });
      }),
    );
    runs.sort((a, b) => contenders.indexOf(a.contender) - contenders.indexOf(b.contender));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;

    for (const run of runs) await prepare(run, workload);
    log(`\n${workload.label}: ${workload.detail}`);

    const order = (r) => runs.map((_, i) => runs[(i + r) % runs.length]);
    if (settings.warmup > 0) {
      for (const run of order(0)) await measureOnce(run, workload, settings.warmup, redis);
    }
    for (let r = 0; r < settings.rounds; r++) {
      for (const run of order(r)) {
        const m = await measureOnce(run, workload, settings.duration, redis);
        run.rounds.push(m);
      }
      process.stdout.write(`  round ${r + 1}/${settings.rounds} done\n`);
    }
    for (const run of runs) {
      if (run.contender.redis) run.sample = await sampleCommands(run, workload, redis);
    }
  } finally {
    await Promise.all(runs.map((run) => run.server.stop()));
  }
  return runs;
}

/** Gets a pool of returning visitors' cookies and checks the server answers the workload correctly. */
async function prepare(run, workload) {
  const { server, contender } = run;
  if (workload.returning) {
    run.cookies = await loginPool(server.url, settings.pool);
    if (contender.id === 'bare') {
      // bare Koa sets no cookie; send one of the same size so requests weigh the same
      run.cookies = run.cookies.map(() => 'koa.sid=' + 'x'.repeat(24) + '; koa.sid.sig=' + 'y'.repeat(27));
    } else if (run.cookies.some((c) => c === '')) {
      throw new Error(`${contender.id}: GET /login set no cookie`);
    }
  }
  const response = await fetch(server.url + workload.path, {
    headers: run.cookies ? { cookie: run.cookies[0] } : {},
  });
  const body = await response.text();
  const setsCookie = response.headers.getSetCookie().length > 0;
  if (response.status !== 200 || !workload.check(body)) {
    run.notes.push(`check failed: ${workload.path} answered ${response.status} ${JSON.stringify(body.slice(0, 60))}`);
  }
  if (contender.id !== 'bare') {
    const expectCookie = ['new', 'change', 'contended', 'rolling', 'change-hashed'].includes(workload.id);
    // koa-session in cookie mode rewrites its cookie on a change; every contender does on new and rolling
    if (expectCookie && !setsCookie) run.notes.push(`check failed: ${workload.id} set no cookie`);
    if (['read', 'untouched', 'rolling-renew', 'read-hashed'].includes(workload.id) && setsCookie) {
      run.notes.push(`note: ${workload.id} set a cookie`);
    }
  }
}

async function measureOnce(run, workload, seconds, redis) {
  const { server } = run;
  if (!server.alive) throw new Error(`${run.contender.id} server died:\n${server.stderr}`);
  const statsBefore = run.contender.redis ? await commandStats(redis.port) : undefined;
  const cacheBefore = run.contender.cache ? (await server.ask('stats')).cache : undefined;
  const cpuBefore = (await server.ask('cpu')).usage;
  const result = await drive({
    baseUrl: server.url,
    path: workload.path,
    cookies: run.cookies,
    shared: workload.shared,
    duration: seconds,
    verifyBody: workload.check,
  });
  const cpuAfter = (await server.ask('cpu')).usage;
  if (cacheBefore) result.cache = cacheDelta(cacheBefore, (await server.ask('stats')).cache);
  const cpuMicros = cpuAfter.user - cpuBefore.user + (cpuAfter.system - cpuBefore.system);
  result.cpuPerRequest = result.requests ? cpuMicros / result.requests : undefined;
  if (statsBefore) {
    const delta = commandDelta(statsBefore, await commandStats(redis.port));
    const perRequest = (counts) =>
      Object.fromEntries(Object.entries(counts).map(([name, calls]) => [name, calls / result.requests]));
    result.redisCommandStats = perRequest(delta);
  }
  return result;
}

/** What a RedisStore's cache did during one measured run, from `cacheStats()` before and after. */
function cacheDelta(before, after) {
  const delta = { tracking: after.tracking, entries: after.entries, max: after.max };
  for (const name of ['hits', 'misses', 'invalidations', 'flushes', 'evictions']) delta[name] = after[name] - before[name];
  return delta;
}

/**
 * Which commands one request sends to Redis: a short run of SAMPLE requests
 * under MONITOR, after the measured rounds (MONITOR slows Redis down). Client
 * commands are round trips; commands that scripts run are counted apart.
 */
async function sampleCommands(run, workload, redis) {
  let result;
  const seen = await monitorCommands(redis.port, async () => {
    result = await drive({
      baseUrl: run.server.url,
      path: workload.path,
      cookies: run.cookies,
      shared: workload.shared,
      amount: SAMPLE,
      verifyBody: workload.check,
    });
  });
  const perRequest = (counts) =>
    Object.fromEntries(Object.entries(counts).sort().map(([name, n]) => [name, round3(n / result.requests)]));
  return {
    requests: result.requests,
    seconds: result.seconds,
    client: perRequest(seen.client),
    script: perRequest(seen.script),
    // counts over the sample, not per request: a cache's heartbeat, sent whatever the requests
    background: seen.background,
  };
}

/** Median, min, max of the rounds, ratios, Redis commands and the targets' verdicts. */
function summarize(workload, runs) {
  const rows = runs.map((run) => {
    const rps = run.rounds.map((m) => m.rps);
    const failures = run.rounds.reduce((n, m) => n + m.errors + m.timeouts + m.non2xx + m.mismatches, 0);
    const row = {
      contender: run.contender.id,
      label: run.contender.label,
      mode: run.variant,
      median: median(rps),
      min: Math.min(...rps),
      max: Math.max(...rps),
      rounds: rps.map((x) => Math.round(x)),
      cpuMicrosPerRequest: median(run.rounds.map((m) => m.cpuPerRequest)),
      latencyP50: median(run.rounds.map((m) => m.latencyP50)),
      latencyP99: median(run.rounds.map((m) => m.latencyP99)),
      failedRequests: failures,
      notes: [...run.notes],
    };
    if (failures > 0) row.notes.push(`${failures} requests failed or answered wrongly`);
    if (run.contender.redis) {
      // round trips: the commands the app's client sent, per request (MONITOR sample)
      row.redisCommands = run.sample.client;
      row.redisCommandsPerRequest = round3(Object.values(run.sample.client).reduce((a, b) => a + b, 0));
      row.redisScriptCommands = run.sample.script;
      // the heartbeat PINGs seen during the sample (any cached store's on this redis-server: only this one has a cache)
      if (run.contender.cache) {
        row.redisBackgroundCommands = { ...run.sample.background, seconds: round3(run.sample.seconds) };
      }
      // all executions during the rounds, as INFO commandstats counts them (commands run by scripts included)
      const rawNames = new Set(run.rounds.flatMap((m) => Object.keys(m.redisCommandStats ?? {})));
      row.redisCommandStats = Object.fromEntries(
        [...rawNames].sort().map((name) => [name, round3(median(run.rounds.map((m) => m.redisCommandStats?.[name] ?? 0)))]),
      );
    }
    if (run.contender.cache) {
      // over all measured rounds: reads the cache answered, of all the store's reads while it was on
      const total = { hits: 0, misses: 0, invalidations: 0, flushes: 0, evictions: 0 };
      for (const m of run.rounds) for (const name of Object.keys(total)) total[name] += m.cache[name];
      const last = run.rounds.at(-1).cache;
      row.cache = { ...total, entries: last.entries, max: last.max, tracking: last.tracking };
      const reads = total.hits + total.misses;
      row.cacheHitRate = reads > 0 ? total.hits / reads : undefined;
      if (!last.tracking) row.notes.push('the cache was not tracking at the end of the run');
      if (total.flushes > 0) row.notes.push(`the cache was flushed ${total.flushes} times during the run`);
    }
    return row;
  });
  const bare = rows.find((r) => r.contender === 'bare');
  const bareRun = runs.find((run) => run.contender.id === 'bare');
  for (const row of rows) {
    row.ratio = bare ? row.median / bare.median : undefined;
    row.ratioMin = bare ? row.min / bare.median : undefined;
    row.ratioMax = bare ? row.max / bare.median : undefined;
    // steadier on a shared machine: bare Koa's CPU per request over this one's (what the ratio
    // would be if the server process were the only bound), and the median of per-round ratios
    row.cpuRatio = bare ? bare.cpuMicrosPerRequest / row.cpuMicrosPerRequest : undefined;
    if (bareRun) {
      const run = runs.find((x) => x.contender.id === row.contender);
      row.ratioPaired = median(run.rounds.map((m, i) => m.rps / bareRun.rounds[i].rps));
    }
  }
  for (const row of rows) {
    const contender = contenders.find((c) => c.id === row.contender);
    const target = targetsFor(contender, workload);
    if (!target) continue;
    const verdicts = [];
    if (target.ratio !== undefined && row.ratio !== undefined) {
      verdicts.push({ what: `≥ ${target.ratio}× bare`, met: row.ratio >= target.ratio });
    }
    for (const vs of target.vs ?? []) {
      const other = rows.find((r) => r.contender === vs.contender);
      const otherRun = runs.find((run) => run.contender.id === vs.contender);
      if (!other) continue;
      const run = runs.find((x) => x.contender.id === row.contender);
      // per-round pairs: both ran back to back in each round, so machine drift cancels out
      const times = median(run.rounds.map((m, i) => m.rps / otherRun.rounds[i].rps));
      const cpu = round3(other.cpuMicrosPerRequest / row.cpuMicrosPerRequest);
      row.vs = [...(row.vs ?? []), { contender: vs.contender, times: round3(times), cpu, judged: vs.times !== undefined }];
      // without `times` the multiple is reported, not judged
      if (vs.times !== undefined) verdicts.push({ what: `≥ ${vs.times}× ${vs.contender} (${times.toFixed(2)}×)`, met: times >= vs.times });
    }
    if (target.commands && row.redisCommands) {
      const { count, exactly } = target.commands;
      let met = Math.abs(row.redisCommandsPerRequest - count) < 0.02;
      if (exactly) {
        const got = Object.entries(row.redisCommands).filter(([, n]) => n >= 0.005);
        met &&= got.length === Object.keys(exactly).length &&
          Object.entries(exactly).every(([name, n]) => Math.abs((row.redisCommands[name] ?? 0) - n) < 0.02);
      }
      const what = exactly ? describeCommands(exactly) : `${count} command${count === 1 ? '' : 's'}`;
      verdicts.push({ what: `Redis: ${what}`, met });
    }
    if (target.hitRate !== undefined && row.cache) {
      verdicts.push({ what: `cache hits ≥ ${fmtPercent(target.hitRate)}`, met: (row.cacheHitRate ?? 0) >= target.hitRate });
    }
    row.target = target;
    row.targetsMet = verdicts;
  }
  return { workload: workload.id, label: workload.label, detail: workload.detail, rows };
}

const round3 = (x) => Math.round(x * 1000) / 1000;
const sum = (counts) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

function describeCommands(commands) {
  const entries = Object.entries(commands).filter(([, n]) => n >= 0.005);
  if (entries.length === 0) return 'none';
  return entries.map(([name, n]) => `${name.toUpperCase()}${Math.abs(n - 1) < 0.005 ? '' : ' ' + n.toFixed(2)}`).join(' + ');
}

function pad(text, width, right = false) {
  text = String(text);
  return right ? text.padStart(width) : text.padEnd(width);
}

function printWorkload(summary) {
  const lines = [];
  lines.push(`\n${summary.label} (${summary.detail})`);
  lines.push(
    pad('contender', 44) +
      pad('median r/s', 11, true) +
      pad('min – max', 18, true) +
      pad('× bare', 8, true) +
      pad('CPU µs/req', 11, true) +
      pad('CPU ×', 7, true) +
      '  ' +
      pad('Redis round trips/req', 56) +
      'targets',
  );
  for (const row of summary.rows) {
    const redis =
      row.redisCommandsPerRequest === undefined
        ? ''
        : `${row.redisCommandsPerRequest.toFixed(2)} (${describeCommands(row.redisCommands)})` +
          (sum(row.redisScriptCommands) > 0 ? ` +${sum(row.redisScriptCommands).toFixed(1)} in script` : '') +
          (row.cache ? `, cache hits ${fmtPercent(row.cacheHitRate)}` : '');
    const targets = [
      ...(row.targetsMet ?? []).map((v) => `${v.met ? 'ok' : 'MISS'} ${v.what}`),
      ...(row.vs ?? []).filter((v) => !v.judged).map((v) => `${v.times.toFixed(2)}× ${v.contender}`),
    ].join('; ');
    const label = row.label + (row.mode === 'defer' && !row.label.includes('defer') ? ', defer' : '');
    lines.push(
      pad(label, 44) +
        pad(fmtInt(row.median), 11, true) +
        pad(`${fmtInt(row.min)} – ${fmtInt(row.max)}`, 18, true) +
        pad(fmtRatio(row.ratio), 8, true) +
        pad(row.cpuMicrosPerRequest === undefined ? '-' : row.cpuMicrosPerRequest.toFixed(0), 11, true) +
        pad(fmtRatio(row.cpuRatio), 7, true) +
        '  ' +
        pad(redis, 56) +
        targets,
    );
    for (const note of row.notes) lines.push('    ' + note);
  }
  log(lines.join('\n'));
}

/** The summary matrix as Markdown: contenders × workloads, ratio and median req/s. */
function markdown(report) {
  const ws = report.workloads;
  const lines = [];
  lines.push(`| contender | ${ws.map((w) => w.label).join(' | ')} |`);
  lines.push(`|---|${ws.map(() => '---:').join('|')}|`);
  for (const contender of contenders) {
    const cells = ws.map((w) => {
      const row = w.rows.find((r) => r.contender === contender.id);
      if (!row) return '-';
      if (row.contender === 'bare') return `${fmtInt(row.median)} req/s, ${row.cpuMicrosPerRequest.toFixed(0)} µs CPU`;
      let cell = `**${fmtRatio(row.ratio)}×** (CPU ${fmtRatio(row.cpuRatio)}×)`;
      if (row.redisCommandsPerRequest !== undefined) cell += ` · ${describeCommands(row.redisCommands)}`;
      if (row.cacheHitRate !== undefined) cell += ` · ${fmtPercent(row.cacheHitRate)} hits`;
      return cell;
    });
    lines.push(`| ${contender.label} | ${cells.join(' | ')} |`);
  }
  const m = report.machine;
  lines.push('');
  lines.push(
    `Requests per second as a ratio of bare Koa's in the same run (medians of ${report.settings.rounds} rounds of ` +
      `${report.settings.duration} s, ${report.settings.connections} connections); in brackets the same ratio from ` +
      `server CPU time per request; then the Redis commands one request sends, and for a store with a cache ` +
      `the share of its reads the cache answered. ` +
      `The untouched route runs in defer mode where the contender has one. ` +
      `${m.cpu}, ${m.cores} cores, Node ${m.node}, redis-server ${m.redis ?? '-'}, ${report.date.slice(0, 10)}.`,
  );
  return lines.join('\n') + '\n';
}

async function main() {
  const started = Date.now();
  const info = machine();
  log(`machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, ${info.os}`);
  log(`node ${info.node}, redis-server ${info.redis ?? 'not found'}, load average ${info.loadavg.join(' ')}`);
  log(
    `settings: ${settings.rounds} rounds × ${settings.duration} s per contender (warm-up ${settings.warmup} s), ` +
      `${settings.connections} connections, ${settings.pool} returning visitors' sessions`,
  );
  for (const s of skipped) log(`skipped ${s.id}: ${s.reason}`);

  let redis;
  const report = { date: new Date().toISOString(), machine: info, settings, skipped, workloads: [] };
  try {
    if (contenders.some((c) => c.redis)) {
      redis = await startRedis();
      log(`redis-server pid ${redis.pid} on 127.0.0.1:${redis.port}`);
    }
    for (const workload of workloads) {
      const runs = await measureWorkload(workload, redis);
      const summary = summarize(workload, runs);
      report.workloads.push(summary);
      printWorkload(summary);
    }
  } finally {
    await redis?.stop();
  }

  const memoryStores = [
    ...(contenders.some((c) => c.id === 'ours-memory-eager' || c.id === 'ours-memory-defer') ? ['memory'] : []),
    ...(contenders.some((c) => c.id === 'ours-redis-cache') ? ['redis-cache'] : []),
  ];
  if (args['no-memory'] !== true && memoryStores.length > 0) {
    log(`\nmemory check: heap after requests with ${memoryStores.includes('memory') ? 'MemoryStore' : ''}${memoryStores.length === 2 ? ' and ' : ''}${memoryStores.includes('redis-cache') ? "RedisStore's cache" : ''} and a short ttl`);
    report.memory = await runMemoryCheck({
      quick,
      stores: memoryStores,
      // the memory check has its own list: an overlapping change holds what a change holds
      workloads: workloads.map((w) => w.id).filter((id) => MEMORY_WORKLOADS.includes(id)),
      requests: args['memory-requests'] ? Number(args['memory-requests']) : undefined,
      log,
    });
    log(formatMemory(report.memory));
  }

  report.seconds = Math.round((Date.now() - started) / 1000);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(resolve(outDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  const table = markdown(report);
  writeFileSync(resolve(outDir, 'latest.md'), table + (report.memory ? '\n' + formatMemory(report.memory, true) : ''));
  writeFileSync(resolve(outDir, 'chart.svg'), renderChart(report));
  log('\n' + table);
  log(`wrote ${resolve(outDir, 'latest.json')}, latest.md and chart.svg (${report.seconds} s in all)`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
