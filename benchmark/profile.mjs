// Profiles one contender's server under one workload with `node --cpu-prof`
// and prints where its CPU time goes: by package and by function (self time).
//   node benchmark/profile.mjs --contender ours-memory-eager --workload change [--seconds 8] [--keep dir]
// The .cpuprofile file can be opened in Chrome DevTools (Performance tab) with --keep.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CONTENDERS, WORKLOADS, libDir } from './contenders.mjs';
import { drive, loginPool, parseArgs, startServer } from './harness.mjs';
import { startRedis } from './redis.mjs';

const args = parseArgs(process.argv.slice(2));
const contender = CONTENDERS.find((c) => c.id === (args.contender ?? 'ours-memory-eager'));
const workload = WORKLOADS.find((w) => w.id === (args.workload ?? 'read'));
if (!contender || !workload) throw new Error('--contender and --workload take ids from benchmark/contenders.mjs');
const seconds = Number(args.seconds ?? 8);
const dir = args.keep ? resolve(String(args.keep)) : mkdtempSync(join(tmpdir(), 'kgs-profile-'));

const redis = contender.redis ? await startRedis() : undefined;
try {
  const variant = workload.variant === 'defer' && !contender.hasDefer ? 'plain' : workload.variant;
  const server = await startServer(
    contender.server,
    { ...contender.env, BENCH_VARIANT: variant, BENCH_LIB: libDir(), ...(redis ? { BENCH_REDIS_URL: redis.url } : {}) },
    { execArgv: ['--cpu-prof', '--cpu-prof-dir', dir] },
  );
  try {
    const cookies = workload.returning ? await loginPool(server.url, 32) : undefined;
    const result = await drive({ baseUrl: server.url, path: workload.path, cookies, duration: seconds, verifyBody: workload.check });
    console.log(`${contender.id} / ${workload.id}: ${Math.round(result.rps)} req/s over ${seconds} s, ${result.mismatches + result.errors + result.non2xx} failed`);
  } finally {
    await server.stop();
  }
} finally {
  await redis?.stop();
}

const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`no .cpuprofile in ${dir}`);
summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')));
if (args.keep) console.log(`profile: ${join(dir, file)}`);
else rmSync(dir, { recursive: true, force: true });

function where(url) {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/')) return 'this package';
  if (url.includes('/benchmark/')) return 'benchmark server';
  return url;
}

function summarize(profile) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (deltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  const byPackage = new Map();
  const byFunction = new Map();
  for (const [id, micros] of self) {
    const { callFrame } = byId.get(id);
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += micros;
      continue;
    }
    total += micros;
    const pkg = name.startsWith('(') ? name : where(callFrame.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + micros);
    const file = callFrame.url ? callFrame.url.split('/').slice(-2).join('/') : '';
    const key = `${name}  ${file}:${callFrame.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
  }
  const pct = (x) => ((100 * x) / total).toFixed(1).padStart(5) + ' %';
  console.log(`busy ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s`);
  console.log('\nself time by package');
  for (const [pkg, micros] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(micros)}  ${pkg}`);
  console.log('\nself time by function');
  for (const [fn, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top ?? 30))) {
    console.log(`${pct(micros)}  ${fn}`);
  }
}
