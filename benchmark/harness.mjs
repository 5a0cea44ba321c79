// Shared by run.mjs and memory.mjs: server processes, returning visitors'
// cookies, and one autocannon run.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

export const SERVERS_DIR = fileURLToPath(new URL('./servers/', import.meta.url));
export const CONNECTIONS = 10;

const live = new Set();
let exitHookInstalled = false;

/** Whatever happens to the runner, no server it started outlives it. */
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      process.exit(130);
    });
  }
}

/**
 * Forks benchmark/servers/<file> with `env` added, waits until it listens.
 * Returns { port, pid, url, ask(type), stop(), exited }.
 */
// a loaded 2-core machine starting every contender's server at once took more than 15 s
export async function startServer(file, env, { execArgv = [], timeout = 60_000 } = {}) {
  installExitHook();
  const child = fork(SERVERS_DIR + file, [], {
    env: { ...process.env, NODE_ENV: 'benchmark', ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  live.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  const exited = once(child, 'exit').then(([code, signal]) => {
    live.delete(child);
    return { code, signal };
  });
  const pending = new Map();
  let nextId = 0;
  child.on('message', (message) => {
    const waiter = pending.get(message?.id);
    if (waiter) {
      pending.delete(message.id);
      waiter(message);
    }
  });

  let timer;
  const listening = new Promise((resolve) => {
    const onMessage = (message) => {
      if (message?.type === 'listening') {
        child.off('message', onMessage);
        resolve(message.port);
      }
    };
    child.on('message', onMessage);
  });
  const port = await Promise.race([
    listening,
    exited.then(({ code, signal }) => {
      throw new Error(`server ${file} exited (${signal ?? code}) before listening:\n${stderr.trim()}`);
    }),
    new Promise((_, reject) => {
      timer = setTimeout(() => {
        // a child left running keeps its IPC channel, and so the runner, alive: the run would hang instead of failing
        child.kill('SIGKILL');
        reject(new Error(`server ${file} did not listen within ${timeout}ms:\n${stderr.trim()}`));
      }, timeout);
    }),
  ]).finally(() => clearTimeout(timer));

  let stopping;
  return {
    port,
    pid: child.pid,
    url: `http://127.0.0.1:${port}`,
    exited,
    get stderr() {
      return stderr;
    },
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    /** Sends a probe ('cpu' or 'heap') and resolves with the server's answer. */
    ask(type, timeoutMs = 30_000) {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`server ${file} did not answer ${type} within ${timeoutMs}ms`));
        }, timeoutMs);
        pending.set(id, (message) => {
          clearTimeout(t);
          resolve(message);
        });
        child.send({ type, id });
      });
    },
    /** Asks it to exit, then SIGKILLs it by pid after 5 s. */
    stop() {
      return (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        if (child.connected) child.send({ type: 'stop' });
        const t = setTimeout(() => process.kill(child.pid, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      })());
    },
  };
}

/** The `name=value` pairs a response sets, as one Cookie header (cleared cookies left out). */
export function cookieHeader(response) {
  const pairs = [];
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';', 1)[0];
    const eq = pair.indexOf('=');
    if (eq > 0 && eq < pair.length - 1 && !/expires=Thu, 01 Jan 1970/i.test(line)) pairs.push(pair);
  }
  return pairs.join('; ');
}

/** Logs `size` visitors in (GET /login) and returns their Cookie headers. */
export async function loginPool(baseUrl, size) {
  const cookies = [];
  for (let i = 0; i < size; i++) {
    const response = await fetch(baseUrl + '/login');
    await response.text();
    if (response.status !== 200) throw new Error(`GET /login answered ${response.status}`);
    cookies.push(cookieHeader(response));
  }
  return cookies;
}

/**
 * One autocannon run against `baseUrl + path`, with `cookies` (returning
 * visitors) or with no cookie. `duration` in seconds, or `amount` requests.
 *
 * Each connection is its own set of visitors: connection k cycles through
 * cookies k, k + CONNECTIONS, k + 2 CONNECTIONS... (one request each, in
 * turn), so no two requests in flight share a session as long as there are
 * at least CONNECTIONS cookies, as with visitors who wait for one answer
 * before the next click. (A list shared by every connection would have all
 * of them walk it in step: up to 10 requests at once on one session, which
 * is what benchmark/lost-updates.mjs measures, and what the `contended`
 * workload asks for with `shared`.)
 */
export function drive({ baseUrl, path, cookies, duration, amount, verifyBody, pipelining = 1, shared = false }) {
  const request = (cookie) => ({ method: 'GET', path, ...(cookie === undefined ? {} : { headers: { cookie } }) });
  const requests = cookies && cookies.length > 0 ? cookies.map(request) : [request(undefined)];
  let connection = 0;
  const setupClient = (client) => {
    const k = connection++;
    if (shared || requests.length <= 1) return;
    const own = requests.filter((_, i) => i % CONNECTIONS === k % Math.min(CONNECTIONS, requests.length));
    client.setRequests(own);
  };
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    autocannon(
      {
        url: baseUrl,
        connections: CONNECTIONS,
        pipelining,
        ...(amount ? { amount } : { duration }),
        requests,
        setupClient,
        ...(verifyBody ? { verifyBody } : {}),
        timeout: 10,
        // autocannon stops at the first sample tick after `duration`: with its default of 1 s
        // every run would last a whole number of seconds
        sampleInt: 100,
      },
      (err, result) => {
        if (err) return reject(err);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        resolve({
          requests: result.requests.total,
          seconds,
          rps: result.requests.total / seconds,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          mismatches: result.mismatches,
          latencyP50: result.latency.p50,
          latencyP99: result.latency.p99,
        });
      },
    );
  });
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Parses `--name value`, `--name=value` and bare `--flag` arguments. */
export function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    if (eq !== -1) args[arg.slice(2, eq)] = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) args[arg.slice(2)] = argv[++i];
    else args[arg.slice(2)] = true;
  }
  return args;
}
