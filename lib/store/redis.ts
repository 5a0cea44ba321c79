import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { debuglog } from 'node:util';
import type { Redis } from 'ioredis';
import type { OwnedSession, OwnerChange, Session, SessionPatch, SessionStore } from '../types.js';
import { changeTexts, encodePatch, parseSession, toSession, type EncodedPatch } from '../session.js';
import { RedisStoreConnectionError, RedisStoreTimeoutError } from './redis-errors.js';
import { closeClient, createClient, isCluster, type RedisClient as Client } from './redis-client.js';
import { describe, resolveRedisStoreOptions } from './redis-config.js';
import type { RedisSerializer as Serializer, RedisStoreOptions as Options, TopLevelRedisOptions as TopLevel } from './redis-options.js';
import { GET_PTTL, MOVE, WRITE, spliceJson, type RedisScript } from './redis-scripts.js';
import { CacheTracking, KEEP_TEXT, SessionCache, type RedisCacheOptions as CacheOptions, type RedisCacheStats as CacheStats } from './redis-cache.js';
import { RedisOwnerIndex, endedBy, ownerActions, ownerEntry, type OwnerKind, type WriteOp, type WriteReply } from './redis-owners.js';

export { RedisStoreConnectionError, RedisStoreTimeoutError } from './redis-errors.js';
// aliases, not `export type { } from`: the CommonJS entry re-exports them with `export import`
/** An ioredis client: a `Redis` (standalone or Sentinel) or a `Cluster`. */
export type RedisClient = Client;
/** Turns sessions into stored strings and back. Default: JSON, with `cookie.expires` revived as a Date. */
export type RedisSerializer = Serializer;
/** RedisStore's options: its own, koa-redis's, and ioredis's at the top level. */
export type RedisStoreOptions = Options;
/** ioredis's connection options, taken at the top level as koa-redis took them. */
export type TopLevelRedisOptions = TopLevel;
/** RedisStore's `cache` option: `{ max }`. */
export type RedisCacheOptions = CacheOptions;
/** What the cache has done: see `RedisStore#cacheStats()`. */
export type RedisCacheStats = CacheStats;

const debug = debuglog('koa-generic-session:redis');

/** `'connecting'` until the first `ready`; `'closed'` after `quit()`. */
export type RedisStoreStatus = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** Payload of the `invalid` event: a stored value that is not a usable session. */
export interface RedisStoreInvalidValue {
  key: string;
  reason: string;
}

/**
 * A merge sends the session text it built on for Redis to compare up to this
 * many characters; past it, the text's SHA1 (hashing costs CPU on both
 * sides, sending costs bytes on the wire).
 */
const SEND_LOADED_TEXT_MAX = 2048;

const SENTINELS_UNREACHABLE = /All sentinels are unreachable/;
const CONNECTION_ERRORS = /^(Connection is closed|Stream isn't writeable|Too many Cluster redirections|None of startup nodes|Failed to refresh slots cache)/;

/**
 * A session store on Redis through ioredis: standalone, Sentinel or Cluster.
 *
 * - `get` is one `GET`; `set` one `SET key value PX ttl` (no `PX` without a
 *   ttl; a ttl at or below 0 deletes), sent inside a deadline-guarded script
 *   unless `guardWrites: false`; `destroy` one `DEL`; `touch` one `PEXPIRE`
 *   (nothing without a ttl).
 * - `merge` (default serializer only) applies what one request changed onto
 *   the stored session in one atomic script, without decoding any value; in
 *   the common case Redis only checks that it still holds the text the
 *   request loaded and writes the request's whole session.
 * - With the middleware's `owner` option, every write also keeps the owner
 *   index (see `ownerPrefix`) in the same round trip: inside the same script
 *   on standalone and Sentinel; in a Cluster, where the owner's keys live in
 *   another slot, as a second command sent at the same time.
 * - Emits `disconnect` when Redis is lost and `connect` when it is usable
 *   again, once per transition and never because of its own `quit()`; the
 *   session middleware's watcher listens to them. A single Cluster node
 *   going down is a partial outage and is not reported.
 * - Emits `invalid` ({ key, reason }) for a stored value that is not a
 *   session; it is treated as no session.
 *
 * @example
 * import session from 'koa-generic-session-ts';
 * import { RedisStore } from 'koa-generic-session-ts/redis';
 * app.use(session({ store: new RedisStore({ url: 'redis://127.0.0.1:6379' }) }));
 */
export class RedisStore extends EventEmitter implements SessionStore {
  /** The ioredis client in use. */
  readonly client: RedisClient;
  /**
   * Applies `patch` (the top-level keys one request set or deleted) onto the
   * stored session atomically and resets its ttl; resolves `false`, writing
   * nothing, when the session no longer exists. One script call: when Redis
   * still holds the text the request loaded (`patch.base`, same SHA1), it
   * stores the request's whole session (`patch.json`) as it is; when another
   * writer got there first (or the patch has no texts), the script splices
   * the patch into what it holds. No value is ever decoded, so every value
   * stays byte for byte as written.
   *
   * Defined only with the default JSON serializer: the script splices JSON
   * text, and the output of a custom serializer (msgpack, encryption,
   * compression) cannot be patched inside Redis. The session middleware checks
   * for `merge` once, at setup, so a store with a custom serializer simply gets
   * whole-session saves, as any store without `merge` does, instead of a
   * method that could not keep its promise.
   */
  declare readonly merge?: (key: string, patch: SessionPatch, ttl?: number, owner?: OwnerChange) => Promise<boolean>;
  readonly #isCluster: boolean;
  readonly #closeClient: boolean;
  readonly #serializer: RedisSerializer | undefined;
  readonly #commandTimeout: number;
  readonly #guardWrites: boolean;
  readonly #owners: RedisOwnerIndex;
  readonly #detach: Array<() => void> = [];
  /** The local cache and what keeps it true; undefined without the `cache` option. */
  readonly #cache: SessionCache | undefined;
  readonly #tracking: CacheTracking | undefined;
  #status: RedisStoreStatus;
  #quitting: Promise<void> | undefined;
  /** Server clock minus ours, in ms, and how far that estimate can be off. */
  #clockOffset = 0;
  #clockSlack = 0;
  /** Resolves once the server clock was read (or could not be); guarded writes wait for it. */
  #clockKnown: Promise<void> | undefined;

  constructor(options: RedisStoreOptions = {}) {
    super();
    const resolved = resolveRedisStoreOptions(options);
    this.#serializer = resolved.serializer;
    this.#commandTimeout = resolved.commandTimeout;
    this.#guardWrites = resolved.guardWrites;
    this.#closeClient = resolved.closeClient;
    this.client = createClient(resolved.plan);
    this.#isCluster = isCluster(this.client);
    this.#owners = new RedisOwnerIndex({
      client: this.client,
      isCluster: this.#isCluster,
      prefix: resolved.ownerPrefix,
      run: (command, start) => this.#run(command, start),
      eval: (script, keys, args) => this.#eval(script, keys, args),
      forget: (keys) => this.#cache?.drop(keys),
      ownerScript: (deadline, keys, px, member, kind, change) => this.#script('none', deadline, keys, px, member, [kind], [], change),
    });
    if (this.#serializer === undefined) {
      Object.defineProperty(this, 'merge', {
        value: (key: string, patch: SessionPatch, ttl?: number, owner?: OwnerChange) => this.#merge(key, patch, ttl, owner),
        configurable: true,
      });
    }
    if (resolved.cacheMax !== undefined && !this.#isCluster) {
      this.#cache = new SessionCache(resolved.cacheMax, (event, detail) =>
        event === 'invalidate' ? this.emit('cacheInvalidate', detail) : this.emit('cacheFlush', detail),
      );
      this.#tracking = new CacheTracking(this.client as Redis, this.#cache, this.#commandTimeout);
    }
    const status = this.client.status;
    this.#status = status === 'ready' ? 'connected' : status === 'end' ? 'disconnected' : 'connecting';
    this.#listen();
    if (status === 'ready') this.#syncClock();
  }

  /** Where the store stands: `'connected'` between a `connect` and a `disconnect` event. */
  get status(): RedisStoreStatus {
    return this.#status;
  }

  async get(key: string): Promise<Session | null> {
    const cache = this.#cache;
    if (cache !== undefined && cache.on) {
      const cached = cache.lookup(key);
      if (cached === undefined) return this.#readTracked(cache, key);
      const session = this.#decode(key, cached);
      if (session === null) cache.drop([key]);
      return session;
    }
    const text = await this.#run('GET', () => this.client.get(key));
    if (text === null || text === undefined) return null;
    return this.#decode(key, text);
  }

  /**
   * What the cache has done (hits, misses, invalidations, flushes, entries),
   * or undefined for a store without the `cache` option. See docs/cache.md.
   */
  cacheStats(): RedisCacheStats | undefined {
    return this.#cache?.stats();
  }

  async set(key: string, session: Session, ttl?: number, owner?: OwnerChange): Promise<void> {
    const px = ttlArgument(ttl);
    if (px !== undefined && px <= 0) return this.destroy(key, owner);
    const value = this.#serializer === undefined ? JSON.stringify(session) : this.#serializer.stringify(session);
    if (typeof value !== 'string') {
      throw new TypeError(`RedisStore serializer.stringify must return a string, got ${describe(value)}`);
    }
    const { code } = await this.#write('SET', 'set', key, px, [value], owner);
    if (code === 0) throw new RedisStoreTimeoutError('SET', this.#commandTimeout, { refused: true });
  }

  async destroy(key: string, owner?: OwnerChange): Promise<void> {
    await this.#write('DEL', 'del', key, undefined, [], owner);
  }

  /** Extends the key's ttl without rewriting it; nothing to do when the session has no ttl. */
  async touch(key: string, ttl?: number, owner?: OwnerChange): Promise<void> {
    const px = ttlArgument(ttl);
    if (px === undefined) return;
    if (px <= 0) return this.destroy(key, owner);
    await this.#write('PEXPIRE', 'touch', key, px, [], owner);
  }

  /**
   * Moves the session at `fromKey` to `toKey`, its ttl kept, unless `toKey`
   * holds one; resolves the session at `toKey` afterwards, or null (the
   * session middleware's `hashIds: { migrate: true }`). Standalone and
   * Sentinel: one script (GET, then RENAME). Cluster, where the two keys live
   * in different slots: the value and its ttl are read in one script, written
   * with `SET NX` (never over a session another request moved, and perhaps
   * changed, meanwhile), and only then is the old key deleted; a request that
   * finds neither reads the new key again.
   */
  async move(fromKey: string, toKey: string): Promise<Session | null> {
    if (!this.#isCluster) {
      // the cache follows neither key through a rename: both are dropped once it is done
      const tickets = [this.#cache?.begin(fromKey), this.#cache?.begin(toKey)];
      try {
        const text = await this.#run('MOVE', () => this.#eval(MOVE, [fromKey, toKey], []));
        return text === null || text === undefined ? null : this.#decode(toKey, String(text));
      } finally {
        for (const ticket of tickets) this.#cache?.end(ticket, null);
      }
    }
    const found = (await this.#run('MOVE', () => this.#eval(GET_PTTL, [fromKey], []))) as [string, number] | null;
    if (found === null) return this.get(toKey);
    const [text, pttl] = found;
    const client = this.client;
    const written = await this.#run('MOVE', () => (pttl > 0 ? client.set(toKey, text, 'PX', pttl, 'NX') : client.set(toKey, text, 'NX')));
    await this.#run('DEL', () => client.del(fromKey));
    return written === null ? this.get(toKey) : this.#decode(toKey, text);
  }

  /** The live sessions recorded under `owner`, with their times and device info; see RedisOwnerIndex. */
  listOwned(owner: string): Promise<OwnedSession[]> {
    return this.#owners.list(owner);
  }

  /** Deletes every session recorded under `owner` but `exceptKey`; resolves how many existed. See RedisOwnerIndex. */
  destroyOwned(owner: string, exceptKey?: string): Promise<number> {
    return this.#owners.destroyAll(owner, exceptKey);
  }

  /**
   * Stops reporting events and, when the store owns the client (or
   * `closeClient: true`), closes it: `QUIT` when connected, else at once.
   * Resolves once the connection has ended. Idempotent.
   */
  quit(): Promise<void> {
    return (this.#quitting ??= this.#close());
  }

  /* ---- the cache ---- */

  /**
   * A read the cache missed: GET and PTTL in one script, so the entry
   * expires when the session does (a ttl set by anyone else comes with an
   * invalidation). The expiry counts from when the read was sent: never later
   * than Redis's.
   */
  async #readTracked(cache: SessionCache, key: string): Promise<Session | null> {
    const ticket = cache.begin(key);
    const sent = Date.now();
    let found: [string, number] | null;
    try {
      found = (await this.#run('GET', () => this.#eval(GET_PTTL, [key], []))) as [string, number] | null;
    } catch (err) {
      cache.end(ticket, null);
      throw err;
    }
    if (found === null || found === undefined) {
      cache.end(ticket, null);
      return null;
    }
    const [text, pttl] = found;
    const session = this.#decode(key, text);
    cache.end(ticket, session === null ? null : text, pttl >= 0 ? sent + pttl : Infinity);
    return session;
  }

  /* ---- events ---- */

  #listen(): void {
    const client = this.client;
    const emitter = client as unknown as EventEmitter;
    const on = (event: string, listener: (...args: never[]) => void) => {
      const handler = listener as unknown as (...args: unknown[]) => void;
      emitter.on(event, handler);
      this.#detach.push(() => emitter.off(event, handler));
    };
    const isSentinel = !this.#isCluster && Array.isArray((client as Redis).options?.sentinels);
    // without an `error` listener ioredis prints "[ioredis] Unhandled error event" on every failed attempt
    on('error', (err: Error) => {
      debug('ioredis error: %s', err?.message);
      // With the master and every sentinel gone, ioredis stays `connecting` and
      // only repeats this error: no `close`, no `reconnecting`.
      if (isSentinel && SENTINELS_UNREACHABLE.test(err?.message ?? '')) this.#down('all sentinels unreachable');
    });
    on('ready', () => {
      this.#clockKnown = undefined;
      this.#syncClock();
      this.#up();
    });
    // A Cluster emits these only when it cannot serve at all; one node's
    // `-node`/`node error` is a partial outage the other masters keep serving.
    on('close', () => this.#down('close'));
    on('reconnecting', () => this.#down('reconnecting'));
    on('end', () => this.#down('end'));
    if (this.#isCluster) {
      on('node error', (err: Error, address: string) => debug('cluster node %s: %s', address, err?.message));
    }
    if (this.#status === 'disconnected') {
      // a client handed over already closed: tell the watcher once it listens
      process.nextTick(() => this.#status === 'disconnected' && this.emit('disconnect'));
    }
  }

  #up(): void {
    if (this.#status === 'connected' || this.#status === 'closed') return;
    debug('connected');
    this.#status = 'connected';
    this.emit('connect');
  }

  #down(reason: string): void {
    if (this.#status === 'disconnected' || this.#status === 'closed') return;
    debug('disconnected (%s)', reason);
    this.#status = 'disconnected';
    this.emit('disconnect');
  }

  /* ---- commands ---- */

  /**
   * Runs one command under `commandTimeout`. `start` gets the local deadline.
   * ioredis errors that mean "no connection" become `RedisStoreConnectionError`.
   */
  #run<T>(command: string, start: (deadline: number) => Promise<T>): Promise<T> {
    const timeout = this.#commandTimeout;
    const deadline = Date.now() + timeout;
    return new Promise<T>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new RedisStoreTimeoutError(command, timeout));
        this.#onTimeout(command);
      }, timeout);
      timer.unref();
      let pending: Promise<T>;
      try {
        pending = start(deadline);
      } catch (err) {
        clearTimeout(timer);
        reject(err);
        return;
      }
      pending.then(
        (value) => {
          if (timedOut) return;
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          if (timedOut) return;
          clearTimeout(timer);
          reject(connectionError(command, err));
        },
      );
    });
  }

  /* ---- writes ---- */

  async #merge(key: string, patch: SessionPatch, ttl: number | undefined, owner: OwnerChange | undefined): Promise<boolean> {
    const px = ttlArgument(ttl);
    if (px !== undefined && px <= 0) return (await this.#write('DEL', 'del', key, undefined, [], owner)).code > 0;
    // The middleware's patch names the text it loaded and its session now. When Redis still holds that text,
    // nothing else wrote in between and the script stores the session as it is. When another write came first,
    // Redis answers what it holds; the patch is spliced onto it here and sent again with the patch itself, which
    // the script splices should yet another write have come first. A bare patch is spliced by the script.
    const texts = changeTexts(patch);
    let reply: WriteReply;
    if (texts === undefined) {
      reply = await this.#write('MERGE', 'merge', key, px, flattenPatch(encodePatch(patch), ['', '']), owner);
    } else {
      reply = await this.#write('MERGE', 'merge', key, px, [loadedText(texts.base), texts.json], owner);
      if (reply.code === 3) {
        const encoded = encodePatch(patch);
        const result = spliceJson(reply.stored!, encoded);
        reply =
          result === null
            ? { code: -2 }
            : await this.#write('MERGE', 'merge', key, px, flattenPatch(encoded, [loadedText(reply.stored!), result]), owner);
      }
    }
    const code = reply.code;
    if (code === 0) throw new RedisStoreTimeoutError('MERGE', this.#commandTimeout, { refused: true });
    if (code === -2) this.#invalid(key, 'not a JSON object, so the change could not be merged into it');
    return code > 0;
  }

  /**
   * One session write with its owner bookkeeping. Resolves the write's code:
   * 1 applied (2: a merge Redis spliced itself), 3 a merge that found another
   * text (`stored`; nothing written), 0 refused (past its deadline), -1 the
   * session is gone, -2 the stored value is not a JSON object; for `del`, how
   * many keys it deleted.
   */
  async #write(
    command: string,
    op: WriteOp,
    key: string,
    px: number | undefined,
    payload: string[],
    change: OwnerChange | undefined,
  ): Promise<WriteReply> {
    const cache = this.#cache;
    if (cache === undefined) return this.#untrackedWrite(command, op, key, px, payload, change);
    // Redis does not tell this connection of its own writes (NOLOOP): the cache applies them when the reply comes
    const sent = Date.now();
    const ticket = cache.begin(key);
    let reply: WriteReply;
    try {
      reply = await this.#untrackedWrite(command, ticket === undefined || op === 'del' ? op : tracked(op), key, px, payload, change);
    } catch (err) {
      cache.end(ticket, null);
      throw err;
    }
    const expires = px === undefined ? Infinity : sent + px;
    if (reply.code !== 1 || op === 'del') cache.end(ticket, null);
    else if (op === 'touch') cache.end(ticket, KEEP_TEXT, expires);
    // a set's value; a merge's whole session (a bare patch, spliced by Redis, is not known here)
    else cache.end(ticket, (op === 'set' ? payload[0] : payload[1]) || null, expires);
    if (change?.ended !== undefined) cache.drop(change.ended);
    return reply;
  }

  async #untrackedWrite(
    command: string,
    op: WriteOp | TrackedOp,
    key: string,
    px: number | undefined,
    payload: string[],
    change: OwnerChange | undefined,
  ): Promise<WriteReply> {
    const actions = ownerActions(untracked(op), change, this.#isCluster);
    if (actions.length === 0) return this.#sessionWrite(command, op, key, px, payload);
    if (!this.#isCluster) {
      // one script holds the session key and the owners' keys: bookkeeping and write are one atomic step
      const keys = [key, ...actions.flatMap((action) => this.#owners.keys(action.owner))];
      const kinds = actions.map((action) => action.kind);
      const raw = await this.#run(command, (deadline) => this.#script(op, deadline, keys, px, key, kinds, payload, change));
      endedBy(change, raw.slice(1 + kinds.length));
      return writeReply(raw);
    }
    return this.#owners.clusterWrite(command, key, px, actions, change, () => this.#sessionWrite(command, op, key, px, payload));
  }

  /**
   * A session write without owner bookkeeping: the plain command where one
   * suffices, else the write script (always for a tracked write, which must
   * read the key again after writing it).
   */
  async #sessionWrite(command: string, op: WriteOp | TrackedOp, key: string, px: number | undefined, payload: string[]): Promise<WriteReply> {
    const client = this.client;
    if (op === 'del') return { code: await this.#run(command, () => client.del(key)) };
    if (op === 'touch') return { code: (await this.#run(command, () => client.pexpire(key, px!))) === 1 ? 1 : -1 };
    if (op === 'set' && !this.#guardWrites) {
      const value = payload[0]!;
      await this.#run(command, () => (px === undefined ? client.set(key, value) : client.set(key, value, 'PX', px)));
      return { code: 1 };
    }
    return writeReply(await this.#run(command, (deadline) => this.#script(op, deadline, [key], px, '', [], payload)));
  }

  /** Runs the WRITE script (see redis-scripts.ts); `set` and `merge` carry the deadline guard unless `guardWrites: false`. */
  async #script(
    op: WriteOp | TrackedOp | 'none',
    deadline: number,
    keys: string[],
    px: number | undefined,
    member: string,
    kinds: OwnerKind[],
    payload: string[],
    change?: OwnerChange,
  ): Promise<Array<number | string>> {
    let guard = '';
    if (this.#guardWrites && (op === 'set' || op === 'merge' || op === 'set+' || op === 'merge+')) {
      if (this.#clockKnown === undefined) this.#syncClock();
      await this.#clockKnown;
      guard = String(deadline + this.#clockOffset - this.#clockSlack);
    }
    const entry = kinds.length > 0 ? ownerEntry(change) : '';
    const args = [op, guard, px === undefined ? '' : String(px), member, entry, String(kinds.length), ...kinds, ...payload];
    return (await this.#eval(WRITE, keys, args)) as Array<number | string>;
  }

  async #eval(script: RedisScript, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // the script cache is empty after a restart or on a new node: send the body once
      if (!/^NOSCRIPT/.test((err as Error)?.message ?? '')) throw err;
      return this.client.eval(script.body, keys.length, ...keys, ...args);
    }
  }

  /**
   * Reads the server clock (TIME) so the write deadline is set in the server's
   * time: skew between the hosts would otherwise loosen the guard or refuse
   * every write. Runs on every `ready`: a failover may change the server.
   */
  #syncClock(): void {
    if (!this.#guardWrites) return;
    const sent = Date.now();
    this.#clockKnown = this.client.time().then(
      (reply) => {
        const received = Date.now();
        const [seconds, micros] = reply as [string | number, string | number];
        const server = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
        this.#clockOffset = server - Math.round((sent + received) / 2);
        this.#clockSlack = Math.ceil((received - sent) / 2) + 1;
        debug('server clock offset %dms (±%dms)', this.#clockOffset, this.#clockSlack);
      },
      (err: unknown) => debug('could not read the server clock: %s', (err as Error)?.message),
    );
  }

  /**
   * A standalone or Sentinel server that does not answer is treated as lost:
   * report it, and reconnect, which fails whatever else waits on the dead
   * connection. A slow Cluster node only fails its own commands.
   */
  #onTimeout(command: string): void {
    if (this.#isCluster || this.#status === 'closed') return;
    debug('no reply to %s within %dms', command, this.#commandTimeout);
    if (this.client.status !== 'ready') return;
    this.#down('command timeout');
    (this.client as Redis).disconnect(true);
  }

  #decode(key: string, text: string): Session | null {
    if (this.#serializer === undefined) {
      const session = parseSession(text);
      if (session === null) this.#invalid(key, 'not the JSON of a plain session object, or it has a prototype-polluting key');
      return session;
    }
    let data: unknown;
    try {
      data = this.#serializer.parse(text);
    } catch (err) {
      this.#invalid(key, `serializer.parse threw: ${(err as Error)?.message ?? String(err)}`);
      return null;
    }
    const session = toSession(data);
    if (session === null) this.#invalid(key, 'serializer.parse did not return a plain session object, or it has a prototype-polluting key');
    return session;
  }

  #invalid(key: string, reason: string): void {
    debug('invalid stored value at %s: %s', key, reason);
    this.emit('invalid', { key, reason } satisfies RedisStoreInvalidValue);
  }

  async #close(): Promise<void> {
    this.#status = 'closed';
    this.#cache?.close();
    await this.#tracking?.close(this.#commandTimeout);
    // our `error` listener stays until the end: a closing client may still report failed attempts
    if (this.#closeClient) await closeClient(this.client, this.#commandTimeout);
    for (const detach of this.#detach) detach();
  }
}

/**
 * The store emits `connect`, `disconnect` and `invalid`; with the `cache`
 * option also `cacheInvalidate` (the keys Redis reported changed) and
 * `cacheFlush` (why the whole cache was dropped).
 */
export interface RedisStore {
  on(event: 'connect' | 'disconnect', listener: () => void): this;
  on(event: 'invalid', listener: (info: RedisStoreInvalidValue) => void): this;
  on(event: 'cacheInvalidate', listener: (keys: string[]) => void): this;
  on(event: 'cacheFlush', listener: (reason: string) => void): this;
  once(event: 'connect' | 'disconnect', listener: () => void): this;
  once(event: 'invalid', listener: (info: RedisStoreInvalidValue) => void): this;
  once(event: 'cacheInvalidate', listener: (keys: string[]) => void): this;
  once(event: 'cacheFlush', listener: (reason: string) => void): this;
  off(event: 'connect' | 'disconnect', listener: () => void): this;
  off(event: 'invalid', listener: (info: RedisStoreInvalidValue) => void): this;
  off(event: 'cacheInvalidate', listener: (keys: string[]) => void): this;
  off(event: 'cacheFlush', listener: (reason: string) => void): this;
}

function connectionError(command: string, err: unknown): unknown {
  const e = err as { name?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return err;
  if (e.name === 'MaxRetriesPerRequestError' || (typeof e.message === 'string' && CONNECTION_ERRORS.test(e.message))) {
    return new RedisStoreConnectionError(command, { cause: err });
  }
  return err;
}

/** The ttl as a whole number of ms for `PX`/`PEXPIRE`, or undefined for none. */
function ttlArgument(ttl: unknown): number | undefined {
  if (ttl === undefined || ttl === null || ttl === Infinity) return undefined;
  if (typeof ttl !== 'number' || Number.isNaN(ttl)) {
    throw new TypeError(`RedisStore ttl must be a number of ms or undefined, got ${describe(ttl)}`);
  }
  return Math.ceil(ttl);
}

/** A write whose caller caches the session: the script reads the key again after writing it (see WRITE). */
type TrackedOp = 'set+' | 'merge+' | 'touch+';

function tracked(op: Exclude<WriteOp, 'del'>): TrackedOp {
  return `${op}+`;
}

function untracked(op: WriteOp | TrackedOp): WriteOp {
  return (op.endsWith('+') ? op.slice(0, -1) : op) as WriteOp;
}

function writeReply(reply: Array<number | string>): WriteReply {
  const code = Number(reply[0]);
  return code === 3 ? { code, stored: String(reply[1]) } : { code };
}

/**
 * The patch with names and values as JSON text. Each member is serialized
 * exactly as JSON.stringify(session) serializes it (toJSON gets the member
 * name); one JSON drops (undefined, a function) is deleted, as a whole-session
 * save would drop it.
 */
/**
 * What a merge sends of the text it built on: the text itself for Redis to
 * compare, or its SHA1 when it is long (or does not start with '{', which
 * tells the script a text from a hash).
 */
function loadedText(text: string): string {
  if (text.length <= SEND_LOADED_TEXT_MAX && text.charCodeAt(0) === 123) return text;
  return createHash('sha1').update(text).digest('hex');
}

/** The patch as the WRITE script's arguments: the count of members to set, each as (name, value), then the names to delete. */
function flattenPatch(patch: EncodedPatch, into: string[]): string[] {
  into.push(String(patch.set.length));
  for (const [name, value] of patch.set) into.push(name, value);
  for (const name of patch.unset) into.push(name);
  return into;
}
