// A private redis-server for the benchmark: started on a free 127.0.0.1 port,
// waited for by PING, stopped by its pid. Never the machine's shared 6379.
// (test/support/redis.ts does the same for the tests; a .mjs runner cannot import TS.)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port nobody listens on right now (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Sends one inline command and resolves with the whole reply once it is complete. */
export function redisCommand(port, command, { timeout = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${command}: no complete reply within ${timeout}ms`));
    }, timeout);
    const done = (err, value) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    socket.on('error', (err) => done(err));
    socket.on('connect', () => socket.write(command + '\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      const reply = parseReply(data);
      if (reply !== undefined) done(reply instanceof Error ? reply : null, reply);
    });
  });
}

/** Parses a simple, error, integer or bulk reply; undefined while incomplete. */
function parseReply(data) {
  const end = data.indexOf('\r\n');
  if (end === -1) return undefined;
  const type = data[0];
  const head = data.slice(1, end);
  if (type === '+') return head;
  if (type === '-') return new Error(head);
  if (type === ':') return Number(head);
  if (type === '$') {
    const length = Number(head);
    if (length < 0) return null;
    const body = Buffer.from(data.slice(end + 2), 'utf8');
    return body.length >= length + 2 ? body.subarray(0, length).toString('utf8') : undefined;
  }
  return new Error(`unexpected redis reply: ${JSON.stringify(data.slice(0, 40))}`);
}

/** `INFO commandstats` as { command: calls }. */
export async function commandStats(port) {
  const text = await redisCommand(port, 'INFO commandstats');
  const stats = {};
  for (const line of text.split('\r\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) stats[match[1]] = Number(match[2]);
  }
  return stats;
}

/** Calls per command between two `commandStats` readings, without the INFO calls that read them. */
export function commandDelta(before, after) {
  const delta = {};
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info') continue;
    const d = calls - (before[name] ?? 0);
    if (d > 0) delta[name] = d;
  }
  return delta;
}

/**
 * Runs `action` while a MONITOR connection watches the server, and returns
 * the commands it saw, split into those clients sent (round trips) and those
 * scripts ran (`[0 lua]`). INFO commandstats cannot tell these apart: it
 * counts an EVALSHA and every command its script calls. MONITOR slows Redis
 * down, so this is for a small sample, never for the measured rounds.
 * Commands of the benchmark's own connections (INFO, ECHO, MONITOR) are left out.
 * PINGs are counted apart (`background`): RedisStore's cache sends one every
 * 250 ms on its invalidation connection, whatever the requests.
 */
export async function monitorCommands(port, action) {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setEncoding('utf8');
  const marker = `bench-marker-${process.pid}-${Date.now()}`;
  let buffer = '';
  let started;
  let ended;
  const startedP = new Promise((resolve) => (started = resolve));
  const endedP = new Promise((resolve) => (ended = resolve));
  const client = {};
  const script = {};
  const background = {};
  socket.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\r\n')) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 2);
      if (line === '+OK') {
        started();
        continue;
      }
      const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
      if (!match) continue;
      const name = match[2].toLowerCase();
      if (name === 'echo' && line.includes(marker)) {
        ended();
        continue;
      }
      if (name === 'info' || name === 'echo' || name === 'monitor') continue;
      const counts = match[1] === 'lua' ? script : name === 'ping' ? background : client;
      counts[name] = (counts[name] ?? 0) + 1;
    }
  });
  const failed = new Promise((_, reject) => socket.once('error', reject));
  socket.write('MONITOR\r\n');
  await Promise.race([startedP, failed]);
  try {
    await action();
    await redisCommand(port, `ECHO ${marker}`);
    await Promise.race([endedP, failed]);
  } finally {
    socket.destroy();
  }
  return { client, script, background };
}

/**
 * Starts redis-server with no persistence on a free port.
 * Resolves with { port, url, pid, stop() } once it answers PING.
 */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kgs-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const spawnError = new Promise((_, reject) =>
    child.once('error', (err) =>
      reject(
        err.code === 'ENOENT'
          ? new Error('redis-server is not on PATH: the Redis contenders need it (apt-get install redis-server)')
          : err,
      ),
    ),
  );
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  exited.then(cleanup);

  const deadline = Date.now() + 10_000;
  const ready = (async () => {
    for (;;) {
      try {
        if ((await redisCommand(port, 'PING', { timeout: 500 })) === 'PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    await Promise.race([ready, spawnError, exited.then(({ code }) => {
      throw new Error(`redis-server exited with code ${code} before answering PING: ${stderr}`);
    })]);
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  }

  let stopping;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    /** SIGTERM by pid, then SIGKILL if it has not exited within 5 s. */
    stop() {
      return (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        process.kill(child.pid, 'SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      })());
    },
    /** For process 'exit' handlers: synchronous, best effort. */
    killNow() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
