/**
 * Real redis-server processes for tests: standalone servers, a 3-master
 * Cluster and a Sentinel set, each on free 127.0.0.1 ports with its own temp
 * dir. Every process is tracked and ended by its pid; nothing here ever
 * talks to the machine's shared Redis on 6379.
 *
 * @example
 * import { RedisServer, stopAllRedis } from './support/redis.js';
 * let redis: RedisServer;
 * before(async () => { redis = await RedisServer.start(); });
 * after(stopAllRedis);                      // ends every process, removes temp dirs
 * it('...', async () => {
 *   await redis.kill();                     // SIGKILL, waits for the exit
 *   await redis.start();                    // same port and dir, waits for PING
 * });
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const HOST = '127.0.0.1';

/** A reply as the RESP2 protocol gives it. Errors are thrown as `RedisReplyError`. */
export type RespValue = string | number | null | RespValue[];

/** An error reply (`-ERR ...`) from a raw command. */
export class RedisReplyError extends Error {
  override readonly name = 'RedisReplyError';
}

const INSTALL_HINT = 'run `apt-get install redis-server redis-tools`';

function onPath(binary: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(path.join(dir, binary), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * Throws unless `redis-server` and `redis-cli` are on PATH. The tests fail
 * (never skip) without them; the message says how to install them.
 */
export function assertRedisInstalled(): void {
  for (const binary of ['redis-server', 'redis-cli']) {
    if (!onPath(binary)) throw new Error(`${binary} is not on PATH: ${INSTALL_HINT}`);
  }
}

/** A free TCP port on 127.0.0.1: bound as port 0, read, released. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/* ---------------------------------------------------------------- raw RESP */

function encode(args: ReadonlyArray<string | number>): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    const s = String(arg);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Parses one reply from `buf` at `at`; returns undefined when incomplete. */
function parse(buf: Buffer, at: number): { value: RespValue | RedisReplyError; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol === -1) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RedisReplyError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, pos);
        if (item === undefined) return undefined;
        if (item.value instanceof RedisReplyError) return { value: item.value, end: item.end };
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

/**
 * Sends one command on a fresh connection and returns its reply. Independent
 * of ioredis, so it works while the client under test is in any state.
 * Rejects on an error reply, a refused connection, or after `timeoutMs`.
 */
export function rawCommand(
  port: number,
  args: ReadonlyArray<string | number>,
  timeoutMs = 2000,
): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const done = (err: Error | undefined, value?: RespValue) => {
      socket.destroy();
      if (err) reject(err);
      else resolve(value as RespValue);
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`${String(args[0])} on port ${port}: no reply in ${timeoutMs}ms`)));
    socket.on('error', (err) => done(err));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const reply = parse(buf, 0);
      if (reply === undefined) return;
      if (reply.value instanceof RedisReplyError) done(reply.value);
      else done(undefined, reply.value);
    });
    socket.write(encode(args));
  });
}

/** `INFO <section>` as a field map. */
function parseInfo(text: string): Record<string, string> {
  const info: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) info[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return info;
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined; rejects after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${reason}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/* ---------------------------------------------------------------- registry */

const live = new Set<RedisServer>();
const dirs = new Set<string>();

// Last resort when a test run ends without its after-hooks (a crash, a
// forgotten stopAllRedis, SIGTERM): no redis-server outlives the test process.
// Installed with the first server, so importing this module changes nothing.
function killAllNow(): void {
  for (const server of live) server.killNow();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
let exitHooks = false;
function installExitHooks(): void {
  if (exitHooks) return;
  exitHooks = true;
  process.once('exit', killAllNow);
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      // then die of the same signal, as without this handler (unless someone else handles it)
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `kgs-redis-${label}-`));
  dirs.add(dir);
  installExitHooks();
  return dir;
}

/**
 * Ends every process these helpers started in this test process (SIGTERM,
 * then SIGKILL when one does not exit in time) and removes their temp dirs.
 * Call it from an `after` hook of the `describe` that started them: it runs
 * even when tests failed, and it is idempotent. (Servers other files left
 * running would be ended too; mocha runs files one after the other.)
 */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...live].map((server) => server.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/* ---------------------------------------------------------------- server */

export interface RedisServerOptions {
  /** Port to listen on. Default: a free port. */
  port?: number;
  /**
   * Keep data across a kill or restart: AOF with `appendfsync always`, so even
   * SIGKILL loses no acknowledged write. Default `false` (no RDB, no AOF: a
   * restart comes back empty).
   */
  persistence?: boolean;
  /** Extra config directives, e.g. `{ 'cluster-enabled': 'yes' }`. */
  config?: Record<string, string | number>;
  /** Data dir. Default: a new temp dir under os.tmpdir(), removed by `remove()`/`stopAllRedis()`. */
  dir?: string;
  /** Name used in the temp dir and in errors. Default `'server'`. */
  label?: string;
  /** Start in sentinel mode from this config text (written to `sentinel.conf` in the dir). */
  sentinelConfig?: string;
}

/**
 * One redis-server process on 127.0.0.1. `start()` spawns it and waits for
 * PING; `stop()`/`kill()` end it by pid and wait for the exit; `pause()` and
 * `resume()` send SIGSTOP and SIGCONT. After an exit it can be started again
 * on the same port and data dir.
 */
export class RedisServer {
  readonly host = HOST;
  readonly dir: string;
  readonly persistence: boolean;
  readonly label: string;
  #port: number;
  readonly #fixedPort: boolean;
  readonly #config: Record<string, string | number>;
  readonly #sentinelConfig: string | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #paused = false;
  #writtenPort = 0;
  #log = '';

  constructor(options: RedisServerOptions = {}) {
    assertRedisInstalled();
    this.label = options.label ?? 'server';
    this.persistence = options.persistence ?? false;
    this.dir = options.dir ?? tempDir(this.label);
    this.#port = options.port ?? 0;
    this.#fixedPort = options.port !== undefined;
    this.#config = options.config ?? {};
    this.#sentinelConfig = options.sentinelConfig;
  }

  /** Creates a server and starts it. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(options);
    await server.start();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://${HOST}:${this.#port}`;
  }

  /** The pid while the process runs, else undefined. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The tail of the server's log (stdout), for failure messages. */
  get log(): string {
    return this.#log;
  }

  /**
   * Starts the process (again, after an exit, on the same port and dir) and
   * resolves once it answers PING. A port picked by `freePort()` that another
   * process took in the meantime is replaced by a new one, up to 5 times.
   */
  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`redis ${this.label} on port ${this.#port} is already running`);
    assertRedisInstalled();
    for (let attempt = 1; ; attempt++) {
      if (this.#port === 0 || (!this.#fixedPort && attempt > 1)) this.#port = await freePort();
      try {
        await this.#spawn();
        return;
      } catch (err) {
        if (this.#fixedPort || attempt >= 5 || !/Address already in use/.test(this.#log)) throw err;
      }
    }
  }

  async #spawn(): Promise<void> {
    // A config file, not command-line directives: Sentinel rewrites the files
    // of the servers it reconfigures (a promoted replica drops `replicaof`), so
    // a restart after a failover comes back in its new role.
    const file = path.join(this.dir, this.#sentinelConfig === undefined ? 'redis.conf' : 'sentinel.conf');
    if (this.#writtenPort !== this.#port) {
      const lines = [
        `port ${this.#port}`,
        `bind ${HOST}`,
        'protected-mode no',
        'daemonize no',
        'logfile ""',
        `dir ${this.dir}`,
      ];
      if (this.#sentinelConfig === undefined) {
        lines.push('save ""', `appendonly ${this.persistence ? 'yes' : 'no'}`);
        if (this.persistence) lines.push('appendfsync always');
      }
      for (const [name, value] of Object.entries(this.#config)) lines.push(`${name} ${value}`);
      if (this.#sentinelConfig !== undefined) lines.push(this.#sentinelConfig);
      writeFileSync(file, lines.join('\n') + '\n');
      this.#writtenPort = this.#port;
    }
    const args = this.#sentinelConfig === undefined ? [file] : [file, '--sentinel'];

    this.#log = '';
    const child = spawn('redis-server', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const spawnError = once(child, 'spawn').then(
      () => undefined,
      (err: NodeJS.ErrnoException) =>
        err.code === 'ENOENT' ? new Error(`redis-server is not on PATH: ${INSTALL_HINT}`) : err,
    );
    const keep = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-8000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    // a server left running must not keep the test process alive; the exit hook ends it
    child.unref();
    (child.stdout as unknown as net.Socket).unref();
    (child.stderr as unknown as net.Socket).unref();
    this.#child = child;
    this.#paused = false;
    live.add(this);
    installExitHooks();
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) this.#child = undefined;
        live.delete(this);
        this.#paused = false;
        resolve();
      });
    });
    const failed = await spawnError;
    if (failed) {
      this.#child = undefined;
      live.delete(this);
      throw failed;
    }
    let exited = false;
    void this.#exited.then(() => (exited = true));
    await waitFor(`redis ${this.label} on port ${this.#port} to answer PING`, async () => {
      if (exited) {
        throw new Error(`redis-server exited during start-up. Log:\n${this.#log}`);
      }
      const reply = await rawCommand(this.#port, ['PING'], 500);
      return reply === 'PONG' ? true : undefined;
    }).catch(async (err: Error) => {
      if (!exited) await this.stop();
      throw new Error(`${err.message}\nredis ${this.label} log:\n${this.#log}`);
    });
  }

  /**
   * Ends the process with SIGTERM (a paused one gets SIGCONT too, or it could
   * not act on the signal) and waits for it to exit; SIGKILL after
   * `graceMs`. A no-op when it is not running.
   */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.ref(); // the wait for its exit holds the event loop
    child.kill('SIGTERM');
    if (this.#paused) this.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL, as a crash: no shutdown save. Resolves once the process has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.ref();
    child.kill('SIGKILL');
    await this.#exited;
  }

  /** Synchronous SIGKILL without waiting, for the process exit hook. */
  killNow(): void {
    this.#child?.kill('SIGKILL');
  }

  /** SIGSTOP: the process keeps its sockets but answers nothing; the kernel still buffers what clients send. */
  pause(): void {
    if (this.#child === undefined) throw new Error(`redis ${this.label} is not running`);
    this.#child.kill('SIGSTOP');
    this.#paused = true;
  }

  /** SIGCONT: the process runs again and executes whatever was buffered meanwhile. */
  resume(): void {
    if (this.#child === undefined) return;
    this.#child.kill('SIGCONT');
    this.#paused = false;
  }

  /** `stop()` then `start()` on the same port and data dir. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops the process and removes its data dir. */
  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
    dirs.delete(this.dir);
  }

  /** One command on a fresh connection (see `rawCommand`). */
  command(...args: Array<string | number>): Promise<RespValue> {
    return rawCommand(this.#port, args);
  }

  /** `INFO <section>` as a field map. */
  async info(section = 'default'): Promise<Record<string, string>> {
    return parseInfo(String(await this.command('INFO', section)));
  }

  /**
   * Calls per command since start or the last `resetStats()`, from
   * `INFO commandstats`, keyed by lower-case command name (`get`, `set`, ...).
   * The INFO and CONFIG commands these helpers send are counted too: compare
   * only the commands you care about.
   */
  async commandStats(): Promise<Record<string, number>> {
    const info = await this.info('commandstats');
    const stats: Record<string, number> = {};
    for (const [field, value] of Object.entries(info)) {
      const match = /^cmdstat_(.+)$/.exec(field);
      const calls = /(?:^|,)calls=(\d+)/.exec(value);
      if (match && calls) stats[match[1]!.toLowerCase()] = Number(calls[1]);
    }
    return stats;
  }

  /** `CONFIG RESETSTAT`: zeroes `INFO commandstats`. */
  async resetStats(): Promise<void> {
    await this.command('CONFIG', 'RESETSTAT');
  }
}

/* ---------------------------------------------------------------- cluster */

export interface RedisClusterOptions {
  /** Number of masters (no replicas). Default 3. */
  masters?: number;
  /** `cluster-node-timeout`, ms. Default 2000. */
  nodeTimeout?: number;
  /** Per node, see `RedisServerOptions.persistence`. Default `false`. */
  persistence?: boolean;
}

/**
 * A Redis Cluster of masters only, made with `redis-cli --cluster create`,
 * with `cluster-require-full-coverage no` so the other masters keep serving
 * while one is down. Restart a node with `node.start()` after `kill()`: it
 * keeps its port, nodes.conf and slots, and rejoins.
 */
export class RedisCluster {
  readonly nodes: RedisServer[];

  private constructor(nodes: RedisServer[]) {
    this.nodes = nodes;
  }

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const count = options.masters ?? 3;
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const busPort = await freePort();
        nodes.push(
          await RedisServer.start({
            label: `cluster${i}`,
            persistence: options.persistence ?? false,
            config: {
              'cluster-enabled': 'yes',
              'cluster-config-file': 'nodes.conf',
              'cluster-node-timeout': options.nodeTimeout ?? 2000,
              'cluster-require-full-coverage': 'no',
              // the bus port is usually port + 10000, which can be taken or above 65535
              'cluster-port': busPort,
            },
          }),
        );
      }
      const cluster = new RedisCluster(nodes);
      await runCli(['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-yes']);
      await cluster.waitHealthy();
      return cluster;
    } catch (err) {
      await Promise.all(nodes.map((n) => n.remove()));
      throw err;
    }
  }

  /** Startup nodes for ioredis: `new Cluster(cluster.startupNodes)`. */
  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: HOST, port: n.port }));
  }

  /** Resolves when every running node reports `cluster_state:ok`, all slots assigned, and knows every node. */
  async waitHealthy(timeoutMs = 15_000): Promise<void> {
    await waitFor(
      'cluster_state:ok on every node',
      async () => {
        for (const node of this.nodes) {
          const info = parseInfo(String(await node.command('CLUSTER', 'INFO')));
          if (
            info.cluster_state !== 'ok' ||
            info.cluster_slots_assigned !== '16384' ||
            info.cluster_slots_fail !== '0' ||
            info.cluster_slots_pfail !== '0' ||
            Number(info.cluster_known_nodes) !== this.nodes.length
          ) {
            return undefined;
          }
        }
        return true;
      },
      timeoutMs,
      50,
    );
  }

  /** The master that owns `key`'s slot (by `CLUSTER KEYSLOT` and `CLUSTER SLOTS` on a running node). */
  async nodeForKey(key: string): Promise<RedisServer> {
    const asker = this.nodes.find((n) => n.running && !n.paused);
    if (asker === undefined) throw new Error('no cluster node is running');
    const slot = Number(await asker.command('CLUSTER', 'KEYSLOT', key));
    const ranges = (await asker.command('CLUSTER', 'SLOTS')) as RespValue[][];
    for (const range of ranges) {
      const [from, to, master] = range as [number, number, RespValue[]];
      if (slot >= from && slot <= to) {
        const port = Number(master[1]);
        const node = this.nodes.find((n) => n.port === port);
        if (node) return node;
      }
    }
    throw new Error(`no node owns slot ${slot}`);
  }

  /** Ends every node and removes their dirs. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.remove()));
  }
}

function runCli(args: string[]): Promise<string> {
  assertRedisInstalled();
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/* ---------------------------------------------------------------- sentinel */

export interface RedisSentinelOptions {
  /** Number of sentinels: 1 (quorum 1) or 3 (quorum 2). Default 1. */
  sentinels?: 1 | 3;
  /** Master name. Default `'mymaster'`. */
  name?: string;
  /** `sentinel down-after-milliseconds`. Default 1000. */
  downAfterMs?: number;
  /** `sentinel failover-timeout`, ms. Default 10000. */
  failoverTimeoutMs?: number;
  /** Master and replica keep their data (see `RedisServerOptions.persistence`). Default `false`. */
  persistence?: boolean;
}

/**
 * A master, one replica and 1 or 3 sentinels (started as `redis-server
 * <conf> --sentinel`: Debian ships no redis-sentinel binary). `start()`
 * resolves when the replica is in sync and every sentinel knows the replica
 * and the other sentinels, so a failover can happen at once.
 */
export class RedisSentinel {
  readonly name: string;
  readonly sentinels: RedisServer[];
  readonly #servers: RedisServer[];
  /** The original master and replica; after a failover they swap roles (see `currentMaster()`). */
  readonly master: RedisServer;
  readonly replica: RedisServer;

  private constructor(name: string, master: RedisServer, replica: RedisServer, sentinels: RedisServer[]) {
    this.name = name;
    this.master = master;
    this.replica = replica;
    this.sentinels = sentinels;
    this.#servers = [master, replica];
  }

  static async start(options: RedisSentinelOptions = {}): Promise<RedisSentinel> {
    const name = options.name ?? 'mymaster';
    const count = options.sentinels ?? 1;
    const quorum = count === 1 ? 1 : 2;
    const started: RedisServer[] = [];
    try {
      // Redis 7 waits 5 s before a diskless full sync, in case more replicas come
      const fastSync = { 'repl-diskless-sync-delay': 0 };
      const master = await RedisServer.start({
        label: 'master',
        persistence: options.persistence ?? false,
        config: fastSync,
      });
      started.push(master);
      const replica = await RedisServer.start({
        label: 'replica',
        persistence: options.persistence ?? false,
        config: { ...fastSync, replicaof: `${HOST} ${master.port}` },
      });
      started.push(replica);
      const sentinels: RedisServer[] = [];
      for (let i = 0; i < count; i++) {
        const sentinel = await RedisServer.start({
          label: `sentinel${i}`,
          sentinelConfig: [
            `sentinel monitor ${name} ${HOST} ${master.port} ${quorum}`,
            `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
            `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 10_000}`,
            `sentinel parallel-syncs ${name} 1`,
            '',
          ].join('\n'),
        });
        sentinels.push(sentinel);
        started.push(sentinel);
      }
      const set = new RedisSentinel(name, master, replica, sentinels);
      await set.waitReady();
      return set;
    } catch (err) {
      await Promise.all(started.map((s) => s.remove()));
      throw err;
    }
  }

  /** Sentinel addresses for ioredis: `new Redis({ sentinels: set.sentinelNodes, name: set.name })`. */
  get sentinelNodes(): Array<{ host: string; port: number }> {
    return this.sentinels.map((s) => ({ host: HOST, port: s.port }));
  }

  /** The port every running sentinel reports for the master (undefined while they disagree). */
  async masterPort(): Promise<number | undefined> {
    const ports = new Set<number>();
    for (const sentinel of this.sentinels) {
      if (!sentinel.running) continue;
      const addr = (await sentinel.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as string[] | null;
      if (addr === null) return undefined;
      ports.add(Number(addr[1]));
    }
    return ports.size === 1 ? [...ports][0] : undefined;
  }

  /** The server the sentinels currently name as master. */
  async currentMaster(): Promise<RedisServer> {
    const port = await this.masterPort();
    const server = this.#servers.find((s) => s.port === port);
    if (server === undefined) throw new Error(`the sentinels disagree on the master (or name an unknown port ${String(port)})`);
    return server;
  }

  /** Resolves when the replica is in sync and every sentinel sees it and all other sentinels. */
  async waitReady(timeoutMs = 15_000): Promise<void> {
    const master = await this.currentMaster();
    await waitFor(
      'replica in sync and sentinels aware of each other',
      async () => {
        const replication = await master.info('replication');
        if (!/state=online/.test(replication.slave0 ?? '')) return undefined;
        for (const sentinel of this.sentinels) {
          const fields = (await sentinel.command('SENTINEL', 'MASTER', this.name)) as string[];
          const info: Record<string, string> = {};
          for (let i = 0; i + 1 < fields.length; i += 2) info[fields[i]!] = fields[i + 1]!;
          if (Number(info['num-slaves']) < 1) return undefined;
          if (Number(info['num-other-sentinels']) < this.sentinels.length - 1) return undefined;
        }
        return true;
      },
      timeoutMs,
      50,
    );
  }

  /**
   * Kills the master with SIGKILL and resolves with the new master once every
   * sentinel names it and it has taken the master role.
   */
  async failover(timeoutMs = 20_000): Promise<RedisServer> {
    const old = await this.currentMaster();
    await old.kill();
    return waitFor(
      'the sentinels to promote the replica',
      async () => {
        const port = await this.masterPort();
        if (port === undefined || port === old.port) return undefined;
        const server = this.#servers.find((s) => s.port === port);
        if (server === undefined) return undefined;
        const role = await server.info('replication');
        return role.role === 'master' ? server : undefined;
      },
      timeoutMs,
      50,
    );
  }

  /** Ends every process (sentinels first, so they do not react) and removes the dirs. */
  async stop(): Promise<void> {
    await Promise.all(this.sentinels.map((s) => s.remove()));
    await Promise.all(this.#servers.map((s) => s.remove()));
  }
}
