/**
 * Fault-injection harness: starts test/support/fault-server.ts as a child
 * process (by pid), drives it with steady, bounded concurrent load over real
 * HTTP on 127.0.0.1, and keeps every answer so the test can check what fell
 * where and that every acknowledged write is still there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { FaultServerConfig } from './fault-server.js';

export interface ServerStats {
  storeInvalid: number;
  unhandledRejections: number;
  uncaughtExceptions: number;
  warnings: number;
  rss: number;
  heapUsed: number;
  /** Highest values sampled since the last reset; `loopDelayMs`: the longest event loop delay (how late timers ran). */
  peak: { rss: number; heapUsed: number; storeSize: number; loopDelayMs: number };
  storeSize: number | null;
  status: string;
  statuses: string[];
}

/** One fault-server child process. */
export class FaultServer {
  readonly child: ChildProcess;
  readonly port: number;
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  private constructor(child: ChildProcess, port: number, stderrSoFar: string) {
    this.child = child;
    this.port = port;
    this.stderr = stderrSoFar;
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
  }

  static async start(config: FaultServerConfig): Promise<FaultServer> {
    const file = fileURLToPath(new URL('./fault-server.ts', import.meta.url));
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file], {
      env: { ...process.env, FAULT_CONFIG: JSON.stringify(config), NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const match = /listening (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`fault server exited with ${String(code)} before listening:\n${err}`)));
      child.once('error', reject);
    });
    child.stderr!.removeAllListeners('data');
    return new FaultServer(child, port, err);
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  async get<T>(path: string, timeoutMs = 5000): Promise<T> {
    const res = await request(this.port, path, undefined, timeoutMs, this.agent);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body}`);
    return JSON.parse(res.body) as T;
  }

  /** Stats; `gc` runs a full collection first (for the memory figure). */
  stats(gc = false, resetPeaks = false): Promise<ServerStats> {
    return this.get<ServerStats>(`/__stats?gc=${gc ? 1 : 0}&resetPeaks=${resetPeaks ? 1 : 0}`);
  }

  /** SIGTERM and wait for the exit (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    this.agent.destroy();
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface RawAnswer {
  status: number;
  body: string;
  setCookie: string[];
}

/** One GET; rejects on a network error or after `timeoutMs` (a hang). */
export function request(
  port: number,
  path: string,
  cookie: string | undefined,
  timeoutMs: number,
  agent: http.Agent,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          clearTimeout(timer);
          const setCookie = res.headers['set-cookie'] ?? [];
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), setCookie });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new HangError(`GET ${path}: no answer within ${timeoutMs}ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export class HangError extends Error {
  readonly code = 'EHANG';
}

/** What one request came to. `outcome` is 'ok', the error code of a 503/500 body, 'hang' or a network error code. */
export interface Answer {
  user: number;
  /** ms since the load started */
  start: number;
  end: number;
  status: number;
  outcome: string;
  v: number;
  sid: string | undefined;
}

export interface UserState {
  cookie: string | undefined;
  /** The last write answered 200: the session id it went to and the value. */
  lastAcked: { sid: string; v: number; start: number; end: number } | undefined;
  /** The highest value sent (acknowledged or not). */
  lastSent: number;
}

export interface LoadOptions {
  port: number;
  agent: http.Agent;
  /** Concurrent virtual users, each with one request in flight at a time. */
  users: number;
  /** Stop starting requests after this long, ms. */
  durationMs: number;
  /** Stop starting requests after this many in all. */
  maxRequests?: number;
  /** A request without an answer after this long counts as a hang, ms. */
  timeoutMs: number;
  /** Path of user `u`'s next request, `v` its value. Default `/w?v=<v>&keep=1`. */
  path?: (u: number, v: number) => string;
  /** Users that send no cookie (each request a new session). Default none. */
  anonymous?: (u: number) => boolean;
  /** Users carried over from an earlier run (their cookies and acknowledged writes). */
  users0?: UserState[];
  /** Stop starting requests once this returns true (the server is gone). */
  until?: () => boolean;
}

export interface LoadResult {
  answers: Answer[];
  users: UserState[];
  elapsedMs: number;
}

function pairs(setCookie: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of setCookie) {
    const pair = line.split(';')[0] as string;
    const eq = pair.indexOf('=');
    map.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return map;
}

/** Applies a response's Set-Cookie to a user's cookie header, as a browser would. */
function updateCookie(current: string | undefined, setCookie: string[]): string | undefined {
  if (setCookie.length === 0) return current;
  const jar = new Map<string, string>();
  for (const pair of (current ?? '').split('; ')) {
    const eq = pair.indexOf('=');
    if (eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  for (const [name, value] of pairs(setCookie)) {
    if (value === '') jar.delete(name);
    else jar.set(name, value);
  }
  const out = [...jar].map(([n, v]) => `${n}=${v}`).join('; ');
  return out === '' ? undefined : out;
}

/** Runs `users` sequential request loops in parallel until the duration or the request budget is used. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const started = Date.now();
  const answers: Answer[] = [];
  const users: UserState[] =
    options.users0 ?? Array.from({ length: options.users }, () => ({ cookie: undefined, lastAcked: undefined, lastSent: 0 }));
  let budget = options.maxRequests ?? Infinity;
  const path = options.path ?? ((_u: number, v: number) => `/w?v=${v}&keep=1`);
  const loop = async (u: number) => {
    const user = users[u]!;
    const anonymous = options.anonymous?.(u) ?? false;
    while (Date.now() - started < options.durationMs && budget > 0 && options.until?.() !== true) {
      budget--;
      const v = ++user.lastSent;
      const start = Date.now() - started;
      let answer: Answer;
      try {
        const res = await request(options.port, path(u, v), anonymous ? undefined : user.cookie, options.timeoutMs, options.agent);
        let body: { sid?: string; v?: number; error?: string; code?: string } = {};
        try {
          body = JSON.parse(res.body) as typeof body;
        } catch {
          // a non-JSON body is reported through its status
        }
        const code = body.code !== undefined && body.code !== body.error ? ` ${body.code}` : '';
        const outcome = res.status === 200 ? 'ok' : `${res.status} ${body.error ?? 'no code'}${code}`;
        answer = { user: u, start, end: Date.now() - started, status: res.status, outcome, v, sid: body.sid };
        if (!anonymous) user.cookie = updateCookie(user.cookie, res.setCookie);
        if (res.status === 200 && body.sid !== undefined && body.v === v) {
          user.lastAcked = { sid: body.sid, v, start, end: answer.end };
        }
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).message;
        answer = { user: u, start, end: Date.now() - started, status: 0, outcome: code === 'EHANG' ? 'hang' : `network ${code}`, v, sid: undefined };
      }
      answers.push(answer);
    }
  };
  await Promise.all(Array.from({ length: users.length }, (_, u) => loop(u)));
  return { answers, users, elapsedMs: Date.now() - started };
}

/** Counts of outcomes, optionally split by the phase each request started in. */
export function tally(answers: Answer[], phaseOf: (a: Answer) => string = () => 'all'): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const a of answers) {
    const phase = (out[phaseOf(a)] ??= {});
    phase[a.outcome] = (phase[a.outcome] ?? 0) + 1;
  }
  return out;
}

export const MB = 1024 * 1024;

/** A compact one-line figure for the report. */
export function figure(label: string, data: object): void {
  console.log(`      ${label}: ${JSON.stringify(data)}`);
}

export { once };
