/**
 * App processes for the cache tests (test/support/cache-app.ts), each a
 * Node process of its own on the test's redis-server, driven over HTTP and
 * heard over IPC: the test waits on what a process reports (an
 * invalidation, a flush, a held request), never on time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { RedisCacheStats } from '../../lib/store/redis.js';

/** What an app process reports. `at` is wall-clock ms with sub-ms resolution (performance.timeOrigin + now()). */
export type CacheAppMessage =
  | { type: 'ready'; port: number }
  | { type: 'invalidate'; keys: string[]; at: number }
  | { type: 'flush'; reason: string; at: number }
  | { type: 'written'; key: string; at: number }
  | { type: 'held'; name: string };

/** What the test tells an app process. */
export type CacheAppCommand = { type: 'open'; name: string } | { type: 'stop' };

export interface AppResponse {
  status: number;
  body: { sid: string | null; fields: Record<string, unknown> } & Record<string, unknown>;
  /** The `name=value` pairs the response set, as a Cookie header ('' for none). */
  cookie: string;
}

interface Waiter {
  from: number;
  match: (message: CacheAppMessage) => boolean;
  resolve: (message: CacheAppMessage) => void;
}

export class CacheApp {
  readonly name: string;
  readonly messages: CacheAppMessage[] = [];
  readonly #child: ChildProcess;
  #waiters: Waiter[] = [];
  #port = 0;
  #stderr = '';

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    child.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-4000)));
    child.on('message', (message: CacheAppMessage) => {
      const index = this.messages.push(message) - 1;
      this.#waiters = this.#waiters.filter((waiter) => {
        if (index < waiter.from || !waiter.match(message)) return true;
        waiter.resolve(message);
        return false;
      });
    });
  }

  /** Starts an app process on `redisUrl` and resolves once Redis tracks its reads and it listens. */
  static async start(name: string, redisUrl: string): Promise<CacheApp> {
    const file = fileURLToPath(new URL('./cache-app.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, REDIS_URL: redisUrl, APP_NAME: name },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const app = new CacheApp(name, child);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`app process ${name} exited with ${String(code)} before it was ready: ${app.#stderr}`))),
    );
    // once ready, an exit is stop()'s to wait for
    exited.catch(() => undefined);
    const ready = (await Promise.race([app.next((m) => m.type === 'ready', 0), exited])) as { port: number };
    app.#port = ready.port;
    return app;
  }

  /** The position of the next message: `next(match, mark())` waits for one reported after this point. */
  mark(): number {
    return this.messages.length;
  }

  /** The first message from position `from` on (default: from now) that `match` accepts. */
  next(match: (message: CacheAppMessage) => boolean, from = this.mark()): Promise<CacheAppMessage> {
    const found = this.messages.slice(from).find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ from, match, resolve }));
  }

  /** Resolves once `count` messages from position `from` on match. */
  async count(match: (message: CacheAppMessage) => boolean, count: number, from: number): Promise<void> {
    let at = from;
    for (let i = 0; i < count; i++) at = this.messages.indexOf(await this.next(match, at), at) + 1;
  }

  /** The first `invalidate` naming `key` from position `from` on. */
  invalidated(key: string, from: number): Promise<Extract<CacheAppMessage, { type: 'invalidate' }>> {
    return this.next((m) => m.type === 'invalidate' && m.keys.includes(key), from) as Promise<Extract<CacheAppMessage, { type: 'invalidate' }>>;
  }

  /** A GET on the app with `cookie`. */
  async get(path: string, cookie = ''): Promise<AppResponse> {
    const res = await fetch(`http://127.0.0.1:${this.#port}${path}`, { headers: cookie === '' ? {} : { cookie } });
    const body = (await res.json()) as AppResponse['body'];
    const set = res.headers.getSetCookie().map((line) => line.split(';')[0]!).join('; ');
    return { status: res.status, body, cookie: set };
  }

  async stats(): Promise<RedisCacheStats> {
    const res = await fetch(`http://127.0.0.1:${this.#port}/__stats`);
    return (await res.json()) as RedisCacheStats;
  }

  send(command: CacheAppCommand): void {
    this.#child.send(command);
  }

  /** Asks the process to close its server and store and exit; SIGKILL if it has not within 5 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    if (child.connected) this.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
