/**
 * Fault-injection scenarios, shared by test/faults.test.ts (short) and
 * test/soak/faults.soak.ts (long): the same checks at a different scale.
 *
 * Every scenario checks four things:
 * 1. the server process neither exits nor reports an unhandled rejection or uncaught exception;
 * 2. every answer is a success or a documented error, and none hangs (HANG_LIMIT, far past any legitimate wait);
 * 3. every write answered with success is still there afterwards with the value written
 *    (unless the scenario destroys the store's data, which it then says);
 * 4. the server's heap returns to its baseline once the load is over.
 */
import { expect } from 'chai';
import { FaultServer, MB, figure, runLoad, tally, type Answer, type LoadResult, type ServerStats, type UserState } from './load.js';
import type { FaultServerConfig } from './fault-server.js';
import { RedisServer, rawCommand } from './redis.js';

export interface Scale {
  /** Load duration of the time-bound scenarios, ms. */
  durationMs: number;
  /** Requests of the MemoryStore flood. */
  floodRequests: number;
  /** Concurrent users. */
  users: number;
}

export const SHORT: Scale = { durationMs: 2000, floodRequests: 10_000, users: 20 };
export const SOAK: Scale = { durationMs: 30_000, floodRequests: 100_000, users: 50 };

/** reconnectTimeout of the app under test. */
export const RECONNECT_TIMEOUT = 1000;
/** RedisStore's default commandTimeout: the longest a request waits on a server that stopped answering. */
export const REDIS_COMMAND_TIMEOUT = 2000;
/**
 * A request still unanswered after this long counts as a hang. The longest
 * legitimate answer is a command timeout then a whole reconnect window (3 s);
 * a machine busy enough to stretch that five times over is not what a hang
 * means, while a request that never settles still fails the scenario, only later.
 */
export const HANG_LIMIT = 5 * (REDIS_COMMAND_TIMEOUT + RECONNECT_TIMEOUT);
/** Heap growth still counted as "back to baseline", bytes: JIT code, pools, the bounded signature cache. */
export const HEAP_TOLERANCE = 4 * MB;

/**
 * The answers a client may see: success, the documented 503 of an
 * unavailable store (the watcher's `SessionStoreUnavailableError`), or a
 * store error passed through the default `errorHandler` (renamed
 * 'koa-generic-session <get|set|destroy> error', its `code` kept): RedisStore's
 * connection and timeout errors. A scenario may add its own injected code.
 */
export function documented(extraCodes: string[] = []): (outcome: string) => boolean {
  const codes = ['ERR_SESSION_STORE_CONNECTION', 'ERR_SESSION_STORE_TIMEOUT', ...extraCodes].join('|');
  const storeError = new RegExp(`^503 koa-generic-session (get|set|destroy) error (${codes})$`);
  return (outcome) => outcome === 'ok' || outcome === '503 ERR_SESSION_STORE_UNAVAILABLE' || storeError.test(outcome);
}

export interface WriteCheck {
  /** Acknowledged writes checked. */
  checked: number;
  /** Acknowledged writes not found with their value (or a later one the same user sent). */
  lost: Array<{ user: number; sid: string; acked: number; found: unknown }>;
  /** Acknowledged writes the scenario itself destroyed (a restart without persistence). */
  destroyedByScenario: number;
}

/** Reads one session's `v` as the store holds it now. */
export type Peek = (sid: string) => Promise<number | null>;

/** One user's acknowledged write to check, and the highest value that user had sent by the end. */
export interface Ack {
  user: number;
  sid: string;
  v: number;
  start: number;
  end: number;
}

/** Each user's last acknowledged write, at the end of a run or at a snapshot. */
export function lastAcks(users: UserState[]): Ack[] {
  return users.flatMap((user, u) => (user.lastAcked === undefined ? [] : [{ user: u, ...user.lastAcked }]));
}

/**
 * Checks acknowledged writes: the store must hold that session id with that
 * value, or a later value the same user sent (a write answered with an error
 * may still have landed). `destroyed` says which acknowledged writes the
 * scenario wipes on purpose: those missing are counted, not failed.
 */
export async function checkWrites(
  acks: Ack[],
  users: UserState[],
  peek: Peek,
  destroyed: (ack: Ack) => boolean = () => false,
): Promise<WriteCheck> {
  const result: WriteCheck = { checked: 0, lost: [], destroyedByScenario: 0 };
  for (const ack of acks) {
    result.checked++;
    const found = await peek(ack.sid);
    if (typeof found === 'number' && found >= ack.v && found <= users[ack.user]!.lastSent) continue;
    if (found === null && destroyed(ack)) result.destroyedByScenario++;
    else result.lost.push({ user: ack.user, sid: ack.sid, acked: ack.v, found });
  }
  return result;
}

export interface Report {
  scenario: string;
  requests: number;
  outcomes: Record<string, Record<string, number>>;
  writes: { checked: number; lost: number; destroyedByScenario: number };
  memory: { baselineHeapMB: number; finalHeapMB: number; peakHeapMB: number; peakRssMB: number; peakStoreSize?: number };
  maxLatencyMs: number;
}

const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

/** Warms the server up (JIT, pools) and returns its baseline after a full GC. */
export async function baseline(server: FaultServer, users = 10, requests = 500): Promise<ServerStats> {
  await runLoad({ port: server.port, agent: server.agent, users, durationMs: 10_000, maxRequests: requests, timeoutMs: 5000, path: (_u, v) => `/w?v=${v}` });
  return server.stats(true, true);
}

/** The four checks, and the figures for the report. */
export async function verify(options: {
  scenario: string;
  server: FaultServer;
  load: LoadResult;
  base: ServerStats;
  writes: WriteCheck;
  phaseOf?: (a: Answer) => string;
  documented?: (outcome: string) => boolean;
  peakStoreSize?: boolean;
}): Promise<Report> {
  const { server, load, base, writes } = options;
  const outcomes = tally(load.answers, options.phaseOf);
  const peakStats = await server.stats(false);
  const final = await server.stats(true);
  const report: Report = {
    scenario: options.scenario,
    requests: load.answers.length,
    outcomes,
    writes: { checked: writes.checked, lost: writes.lost.length, destroyedByScenario: writes.destroyedByScenario },
    memory: {
      baselineHeapMB: mb(base.heapUsed),
      finalHeapMB: mb(final.heapUsed),
      peakHeapMB: mb(peakStats.peak.heapUsed),
      peakRssMB: mb(peakStats.peak.rss),
      ...(options.peakStoreSize ? { peakStoreSize: peakStats.peak.storeSize } : {}),
    },
    maxLatencyMs: load.answers.reduce((max, a) => Math.max(max, a.end - a.start), 0),
  };
  figure(options.scenario, report);

  // 1. no crash, no unhandled rejection
  expect(server.running, `server exited: ${JSON.stringify(server.exit)}\n${server.stderr}`).to.equal(true);
  expect(final.unhandledRejections, `unhandled rejections:\n${server.stderr}`).to.equal(0);
  expect(final.uncaughtExceptions, `uncaught exceptions:\n${server.stderr}`).to.equal(0);
  // 2. only success or the documented errors; no hang, no 500, no dropped connection
  const isDocumented = options.documented ?? documented();
  const undocumented = load.answers.filter((a) => !isDocumented(a.outcome));
  expect(
    undocumented.slice(0, 5).map((a) => `${a.outcome} at ${a.start}-${a.end}ms`),
    `${undocumented.length} undocumented answers; server log:\n${server.stderr.slice(-3000)}`,
  ).to.deep.equal([]);
  // 3. no acknowledged write lost
  expect(writes.lost, 'acknowledged writes lost').to.deep.equal([]);
  // 4. memory back to baseline
  expect(final.heapUsed, `heap ${mb(final.heapUsed)} MB after the load, baseline ${mb(base.heapUsed)} MB`).to.be.at.most(
    base.heapUsed + HEAP_TOLERANCE,
  );
  return report;
}

/** Reads `v` through the fault server's direct view of its MemoryStore. */
export function memoryPeek(server: FaultServer): Peek {
  return async (sid) => {
    const { session } = await server.get<{ session: { v?: number } | null }>(`/__peek?sid=${encodeURIComponent(sid)}`);
    return session?.v ?? null;
  };
}

export async function withServer<T>(config: FaultServerConfig, body: (server: FaultServer) => Promise<T>): Promise<T> {
  const server = await FaultServer.start(config);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

/* ---------------------------------------------------------------- store-level scenarios */

export async function slowStore(scale: Scale): Promise<Report> {
  return withServer({ store: 'slow', slowMaxMs: 500, reconnectTimeout: RECONNECT_TIMEOUT }, async (server) => {
    const base = await baseline(server, 50, 100);
    const load = await runLoad({ port: server.port, agent: server.agent, users: scale.users, durationMs: scale.durationMs, timeoutMs: HANG_LIMIT });
    const writes = await checkWrites(lastAcks(load.users), load.users, memoryPeek(server));
    const report = await verify({ scenario: 'slow store (0-500 ms per call)', server, load, base, writes });
    expect(report.outcomes.all).to.deep.equal({ ok: load.answers.length });
    return report;
  });
}

export async function failingStore(scale: Scale, rate = 0.1): Promise<Report> {
  return withServer({ store: 'failing', failRate: rate, reconnectTimeout: RECONNECT_TIMEOUT }, async (server) => {
    const base = await baseline(server);
    const load = await runLoad({ port: server.port, agent: server.agent, users: scale.users, durationMs: scale.durationMs, timeoutMs: HANG_LIMIT });
    const writes = await checkWrites(lastAcks(load.users), load.users, memoryPeek(server));
    const report = await verify({ scenario: `failing store (${rate * 100}% of calls throw)`, server, load, base, writes, documented: documented(['ESTOREFAULT']) });
    // the injected failures do reach clients, as the documented get/set errors
    const all = report.outcomes.all!;
    expect(all['503 koa-generic-session get error ESTOREFAULT'] ?? 0, 'get failures answered 503').to.be.greaterThan(0);
    expect(all['503 koa-generic-session set error ESTOREFAULT'] ?? 0, 'set failures answered 503').to.be.greaterThan(0);
    return report;
  });
}

/**
 * A flood of new sessions with a short ttl on MemoryStore: the store's size
 * stays bounded by rate × lifetime, expired sessions are swept, and the heap
 * comes back to its baseline. A few users keep long-lived sessions whose
 * acknowledged writes are checked.
 */
export async function memoryFlood(scale: Scale): Promise<Report> {
  const ttl = 250;
  const sweep = 100;
  const keepers = 4;
  return withServer({ store: 'memory', reconnectTimeout: RECONNECT_TIMEOUT, shortTtlMs: ttl, sweepIntervalMs: sweep }, async (server) => {
    // one short-lived session made before the flood: it must be gone afterwards
    const early = await server.get<{ sid: string }>('/w?v=1');
    const base = await baseline(server);
    const users = Math.max(scale.users, 32);
    const load = await runLoad({
      port: server.port,
      agent: server.agent,
      users,
      durationMs: 10 * 60_000,
      maxRequests: scale.floodRequests,
      timeoutMs: HANG_LIMIT,
      anonymous: (u) => u >= keepers,
      path: (u, v) => (u >= keepers ? `/w?v=${v}` : `/w?v=${v}&keep=1`),
    });
    const rate = load.answers.length / (load.elapsedMs / 1000);
    const lateness = Math.ceil((await server.stats()).peak.loopDelayMs);
    // expired sessions are removed by the sweep: wait until only the keepers' remain
    let stats = await server.stats();
    for (let i = 0; i < 100 && stats.storeSize! > keepers; i++) {
      await new Promise((r) => setTimeout(r, sweep));
      stats = await server.stats();
    }
    expect(stats.storeSize, 'sessions left once the short ttl passed').to.equal(keepers);
    expect(await memoryPeek(server)(early.sid), 'a session made before the flood').to.equal(null);
    const writes = await checkWrites(lastAcks(load.users.slice(0, keepers)), load.users, memoryPeek(server));
    const report = await verify({ scenario: `MemoryStore flood (${scale.floodRequests} requests, ttl ${ttl} ms)`, server, load, base, writes, peakStoreSize: true });
    // bounded: never more sessions than arrive during one lifetime (ttl, then until the sweep ran:
    // its interval plus how late the busy event loop let it run), with slack
    const lifetime = ttl + sweep + lateness;
    const bound = Math.ceil(rate * (lifetime / 1000) * 2) + keepers;
    expect(report.memory.peakStoreSize, `peak store size vs rate ${Math.round(rate)}/s × ${lifetime} ms × 2`).to.be.at.most(bound);
    return report;
  });
}

/* ---------------------------------------------------------------- Redis scenarios */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads `v` of a session straight from Redis, independent of the client under test. */
export function redisPeek(redis: RedisServer): Peek {
  return async (sid) => {
    const text = await rawCommand(redis.port, ['GET', 'koa:sess:' + sid]);
    if (text === null) return null;
    const v = (JSON.parse(String(text)) as { v?: unknown }).v;
    return typeof v === 'number' ? v : null;
  };
}

/** Phase of a request by when it started, given the fault script's marks (ms since the load started). */
function phases(marks: { fault: number; recovered: number }): (a: Answer) => string {
  return (a) => (a.start < marks.fault ? 'before' : a.start < marks.recovered ? 'during' : 'after');
}

/** With `cache`, the app's RedisStore runs with its cache on (`cache: true`). */
async function withRedis<T>(persistence: boolean, cache: boolean, body: (redis: RedisServer, server: FaultServer) => Promise<T>): Promise<T> {
  const redis = await RedisServer.start({ persistence, label: 'faults' });
  try {
    const config: FaultServerConfig = { store: 'redis', redisPort: redis.port, reconnectTimeout: RECONNECT_TIMEOUT };
    if (cache) config.redisOptions = { cache: true };
    return await withServer(config, (server) => body(redis, server));
  } finally {
    await redis.remove();
  }
}

/**
 * Runs the load while `script` injects the fault; `script` gets the time
 * origin of the load and returns its marks (ms since that origin).
 */
async function underLoad(
  server: FaultServer,
  scale: Scale,
  durationMs: number,
  script: (elapsed: () => number, users: UserState[]) => Promise<{ fault: number; recovered: number }>,
): Promise<{ load: LoadResult; marks: { fault: number; recovered: number } }> {
  const origin = Date.now();
  const users: UserState[] = Array.from({ length: scale.users }, () => ({ cookie: undefined, lastAcked: undefined, lastSent: 0 }));
  const loading = runLoad({ port: server.port, agent: server.agent, users: scale.users, users0: users, durationMs, timeoutMs: HANG_LIMIT });
  const marks = await script(() => Date.now() - origin, users);
  const load = await loading;
  return { load, marks };
}

/**
 * SIGKILL mid-load, restart on the same port 2 s later. With persistence
 * (AOF, appendfsync always) no acknowledged write may be lost; without it the
 * restart comes back empty, which destroys every write acknowledged before it:
 * those are counted as destroyed by the scenario, and only later ones checked.
 */
export async function redisKill(scale: Scale, persistence: boolean, cache = false): Promise<Report> {
  return withRedis(persistence, cache, async (redis, server) => {
    const base = await baseline(server);
    const lead = Math.min(1000, scale.durationMs / 3);
    let beforeKill: Ack[] = [];
    const { load, marks } = await underLoad(server, scale, lead + 2000 + scale.durationMs, async (elapsed, users) => {
      await sleep(lead);
      await redis.kill();
      const fault = elapsed();
      // every write acknowledged so far was answered by the server just killed
      beforeKill = lastAcks(users);
      await sleep(2000);
      await redis.start();
      return { fault, recovered: elapsed() };
    });
    // without persistence, a request that began before the restart worked on a session the restart wiped
    // (with merge-on-save, a save onto the vanished session writes nothing, by design: no resurrection)
    const destroyed = persistence ? undefined : (ack: Ack) => ack.start < marks.recovered;
    const atKill = await checkWrites(beforeKill, load.users, redisPeek(redis), destroyed);
    const atEnd = await checkWrites(lastAcks(load.users), load.users, redisPeek(redis), destroyed);
    const writes: WriteCheck = {
      checked: atKill.checked + atEnd.checked,
      lost: [...atKill.lost, ...atEnd.lost],
      destroyedByScenario: atKill.destroyedByScenario + atEnd.destroyedByScenario,
    };
    const report = await verify({
      scenario: `Redis SIGKILL + restart after 2 s (${persistence ? 'AOF persistence' : 'no persistence'}${cache ? ', cache' : ''})`,
      server,
      load,
      base,
      writes,
      phaseOf: phases(marks),
    });
    expect(beforeKill.length, 'writes acknowledged before the kill').to.be.greaterThan(0);
    // without persistence the restart really did wipe them: the scenario destroys data, and says so
    if (!persistence) expect(atKill.destroyedByScenario, 'writes the empty restart destroyed').to.equal(beforeKill.length);
    // the outage was seen, and service came back
    expect(report.outcomes.after?.ok ?? 0, 'successes after the restart').to.be.greaterThan(0);
    expect(Object.keys(report.outcomes.during ?? {}).some((o) => o !== 'ok'), 'errors during the outage').to.equal(true);
    return report;
  });
}

/** SIGSTOP for longer than reconnectTimeout (a hung server keeps its sockets), then SIGCONT. */
export async function redisStop(scale: Scale, cache = false): Promise<Report> {
  return withRedis(true, cache, async (redis, server) => {
    const base = await baseline(server);
    const lead = Math.min(1000, scale.durationMs / 3);
    // RedisStore notices a hung server when a command times out (commandTimeout, 2000 ms by default);
    // the watcher then waits reconnectTimeout: stop long enough for both, and for fast 503s after them
    const stopped = REDIS_COMMAND_TIMEOUT + RECONNECT_TIMEOUT + 1000;
    const { load, marks } = await underLoad(server, scale, lead + stopped + scale.durationMs, async (elapsed) => {
      await sleep(lead);
      redis.pause();
      const fault = elapsed();
      await sleep(stopped);
      redis.resume();
      return { fault, recovered: elapsed() };
    });
    const writes = await checkWrites(lastAcks(load.users), load.users, redisPeek(redis));
    const report = await verify({ scenario: `Redis SIGSTOP ${stopped} ms then SIGCONT${cache ? ' (cache)' : ''}`, server, load, base, writes, phaseOf: phases(marks) });
    expect(report.outcomes.after?.ok ?? 0, 'successes after SIGCONT').to.be.greaterThan(0);
    expect(report.outcomes.during?.['503 ERR_SESSION_STORE_UNAVAILABLE'] ?? 0, 'fast 503s once reconnectTimeout passed').to.be.greaterThan(0);
    return report;
  });
}

/** `CLIENT KILL TYPE normal` every 250 ms while requests are in flight. */
export async function redisClientKill(scale: Scale, cache = false): Promise<Report> {
  return withRedis(false, cache, async (redis, server) => {
    const base = await baseline(server);
    let kills = 0;
    let killed = 0;
    const { load, marks } = await underLoad(server, scale, scale.durationMs, async (elapsed) => {
      const fault = elapsed();
      while (elapsed() < scale.durationMs - 500) {
        await sleep(250);
        killed += Number(await rawCommand(redis.port, ['CLIENT', 'KILL', 'TYPE', 'normal']));
        kills++;
      }
      return { fault, recovered: elapsed() };
    });
    const writes = await checkWrites(lastAcks(load.users), load.users, redisPeek(redis));
    const report = await verify({
      scenario: `CLIENT KILL TYPE normal ×${kills} (${killed} connections cut)${cache ? ' (cache)' : ''}`,
      server,
      load,
      base,
      writes,
      phaseOf: phases(marks),
    });
    expect(killed, 'connections cut').to.be.greaterThan(0);
    return report;
  });
}

/**
 * SIGTERM under load with the package's graceful shutdown (closeOnSignal):
 * requests in flight finish, their session writes land, the Redis client
 * quits and the process exits by itself with code 0. Requests sent after the
 * signal find the server gone (refused or reset connections): that is the
 * documented end of a shutdown, never a hang or a 500. The memory check does
 * not apply: the process is gone.
 */
export async function gracefulShutdown(scale: Scale): Promise<Report> {
  const redis = await RedisServer.start({ persistence: true, label: 'shutdown' });
  const server = await FaultServer.start({ store: 'redis', redisPort: redis.port, reconnectTimeout: RECONNECT_TIMEOUT, graceful: true });
  try {
    await baseline(server);
    // the signal comes halfway through the run
    const lead = scale.durationMs / 2;
    const users: UserState[] = Array.from({ length: scale.users }, () => ({ cookie: undefined, lastAcked: undefined, lastSent: 0 }));
    const origin = Date.now();
    const loading = runLoad({
      port: server.port,
      agent: server.agent,
      users: scale.users,
      users0: users,
      durationMs: 60_000,
      timeoutMs: HANG_LIMIT,
      until: () => !server.running,
    });
    await sleep(lead);
    const signalled = Date.now() - origin;
    server.child.kill('SIGTERM');
    const exited = await Promise.race([server.exited.then(() => true), sleep(10_000).then(() => false)]);
    const load = await loading;
    expect(exited, `the process did not exit by itself within 10 s of SIGTERM\n${server.stderr}`).to.equal(true);
    expect(server.exit, server.stderr).to.deep.equal({ code: 0, signal: null });
    expect(server.stderr, 'no unhandled rejection, uncaught exception or warning').to.not.match(/unhandledRejection|uncaughtException|warning:/);

    const phaseOf = (a: Answer) => (a.start < signalled ? 'before' : 'after');
    const outcomes = tally(load.answers, phaseOf);
    const writes = await checkWrites(lastAcks(load.users), load.users, redisPeek(redis));
    const report: Report = {
      scenario: 'SIGTERM under load, graceful shutdown',
      requests: load.answers.length,
      outcomes,
      writes: { checked: writes.checked, lost: writes.lost.length, destroyedByScenario: 0 },
      memory: { baselineHeapMB: 0, finalHeapMB: 0, peakHeapMB: 0, peakRssMB: 0 },
      maxLatencyMs: load.answers.reduce((max, a) => Math.max(max, a.end - a.start), 0),
    };
    figure(report.scenario, { ...report, memory: 'n/a (the process exited)' });
    // requests in flight at the signal were answered; none hung or failed with a 500
    const early = load.answers.filter((a) => a.start < signalled);
    expect(early.filter((a) => !documented()(a.outcome)).map((a) => a.outcome), 'requests sent before SIGTERM').to.deep.equal([]);
    const late = load.answers.filter((a) => a.start >= signalled);
    expect(
      late.filter((a) => !(documented()(a.outcome) || /^network (ECONNREFUSED|ECONNRESET|socket hang up)$/.test(a.outcome))).map((a) => a.outcome),
      'requests sent after SIGTERM: answered, refused or reset',
    ).to.deep.equal([]);
    expect(writes.lost, 'acknowledged writes lost').to.deep.equal([]);
    expect(writes.checked).to.equal(scale.users);
    return report;
  } finally {
    await server.stop();
    await redis.remove();
  }
}
