import { randomBytes } from 'node:crypto';
import { debuglog } from 'node:util';
import type { Redis, RedisOptions } from 'ioredis';
import { closeClient } from './redis-client.js';
import { warnRedisOption } from './redis-config.js';

const debug = debuglog('koa-generic-session:redis');

/** The channel Redis publishes invalidations on, for a RESP2 connection named in `REDIRECT`. */
const INVALIDATE = '__redis__:invalidate';

/** Reads inside Lua scripts are tracked for the script's caller from Redis 7.0 on; the store relies on it. */
const MIN_MAJOR = 7;

/** How often entries past their ttl are freed, when no read or invalidation freed them first. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * The invalidation connection is PINGed this often. Redis answers on the
 * connection that carries the invalidations, after every invalidation it
 * queued before: a PONG proves that every change made before the PING was
 * sent has reached this process.
 */
export const HEARTBEAT_MS = 250;

/**
 * The cache answers reads only while its last PONG answered a PING sent less
 * than this long ago, so a connection that stops delivering without closing
 * (a silent network partition, a stalled server) serves nothing older than
 * this. Entries are kept meanwhile: the next PONG vouches for them again.
 */
export const LEASE_MS = 1000;

/** RedisStore's `cache` option. */
export interface RedisCacheOptions {
  /** Most sessions kept in this process; the least recently used goes first. Default 10000. */
  max?: number;
}

/** What the cache has done since the store was created. */
export interface RedisCacheStats {
  /**
   * `true` while Redis tracks this process's reads and the heartbeat vouches
   * for the invalidation connection, so the cache serves them; `false` while
   * tracking is being set up, after a gap, or while the connection is quiet
   * past its lease, when every read goes to Redis. `disabled` tells why it
   * never will (an old server, a refused `CLIENT TRACKING`), else is
   * undefined.
   */
  tracking: boolean;
  disabled: string | undefined;
  /** Sessions held now, and the most it holds. */
  entries: number;
  max: number;
  /** Reads answered from the cache, and reads that went to Redis while tracking was on. */
  hits: number;
  misses: number;
  /** Keys Redis reported changed, expired or deleted by another connection. */
  invalidations: number;
  /** Times the whole cache was dropped: a connection lost, a server flush, a failover. */
  flushes: number;
  /** Entries dropped to stay within `max`. */
  evictions: number;
}

interface Entry {
  readonly key: string;
  text: string;
  /** Our clock, ms; Infinity without a ttl. */
  expires: number;
  /** Neighbours in use order (see SessionCache#oldest). */
  older: Entry | undefined;
  newer: Entry | undefined;
}

interface Pending {
  count: number;
  /** An invalidation for the key arrived while commands on it were in flight: their replies may be stale. */
  dirty: boolean;
}

/** One command on a key, started while tracking was on: its reply may update the cache. */
export interface CacheTicket {
  readonly key: string;
  readonly epoch: number;
  readonly pending: Pending;
}

/** `end`'s `text` for a write that kept the value but moved its expiry (`touch`). */
export const KEEP_TEXT = Symbol('keep');

/**
 * The sessions this process read or wrote, by key, with their expiry. It
 * answers reads only while `on`: between the moment Redis confirmed that
 * it tracks this connection's reads and the first sign of a gap in the
 * invalidation stream, when everything is dropped (`flush`).
 *
 * A command's reply arrives on the command connection and an invalidation
 * on the other one, so either may come first. A reply updates the cache
 * only when nothing invalidated its key while it was in flight and no flush
 * happened since it was sent (the epoch); otherwise its key is dropped.
 */
export class SessionCache {
  readonly max: number;
  readonly #entries = new Map<string, Entry>();
  /**
   * The entries in use order, a doubly linked list: a hit moves its entry to
   * the newest end, eviction takes the oldest, each in constant time. (A Map
   * re-inserted on every hit would do as an order, but finding its first
   * live key walks every slot deleted since its last rehash: about 7 µs per
   * eviction at 10,000 entries.)
   */
  #oldest: Entry | undefined;
  #newest: Entry | undefined;
  readonly #pending = new Map<string, Pending>();
  #on = false;
  #epoch = 0;
  /** Our clock: hits are served until then (see LEASE_MS). */
  #leaseUntil = 0;
  #disabled: string | undefined;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;
  #flushes = 0;
  #evictions = 0;
  #sweeper: NodeJS.Timeout | undefined;
  readonly #report: (event: 'invalidate' | 'flush', detail: string[] | string) => void;

  constructor(max: number, report: (event: 'invalidate' | 'flush', detail: string[] | string) => void) {
    this.max = max;
    this.#report = report;
  }

  get on(): boolean {
    return this.#on;
  }

  /** Why the cache will never turn on, or undefined. */
  get disabled(): string | undefined {
    return this.#disabled;
  }

  /** The cached text of a live session, or undefined (a miss, counted). */
  lookup(key: string): string | undefined {
    const now = Date.now();
    const entry = now < this.#leaseUntil ? this.#entries.get(key) : undefined;
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    if (entry.expires <= now) {
      this.#remove(entry);
      this.#misses++;
      return undefined;
    }
    this.#touch(entry);
    this.#hits++;
    return entry.text;
  }

  /** A ticket for a command on `key` about to be sent, or undefined while the cache is off. */
  begin(key: string): CacheTicket | undefined {
    if (!this.#on) return undefined;
    let pending = this.#pending.get(key);
    if (pending === undefined) this.#pending.set(key, (pending = { count: 0, dirty: false }));
    pending.count++;
    return { key, epoch: this.#epoch, pending };
  }

  /**
   * The reply to `ticket`'s command arrived: `text` is what Redis now holds
   * (null: nothing, or unknown), expiring at `expires` (our clock);
   * `KEEP_TEXT` keeps the held text and moves its expiry.
   */
  end(ticket: CacheTicket | undefined, text: string | null | typeof KEEP_TEXT, expires = Infinity): void {
    if (ticket === undefined) return;
    const { key, pending } = ticket;
    if (--pending.count === 0 && this.#pending.get(key) === pending) this.#pending.delete(key);
    if (ticket.epoch !== this.#epoch) return; // flushed since: the cache holds nothing of that time
    const entry = this.#entries.get(key);
    if (pending.dirty || text === null) {
      if (entry !== undefined) this.#remove(entry);
      return;
    }
    if (text === KEEP_TEXT) {
      if (entry !== undefined) entry.expires = expires;
      return;
    }
    if (entry !== undefined) {
      entry.text = text;
      entry.expires = expires;
      this.#touch(entry);
      return;
    }
    const added: Entry = { key, text, expires, older: this.#newest, newer: undefined };
    if (this.#newest === undefined) this.#oldest = added;
    else this.#newest.newer = added;
    this.#newest = added;
    this.#entries.set(key, added);
    if (this.#entries.size > this.max) {
      this.#remove(this.#oldest!);
      this.#evictions++;
    }
  }

  /** Makes `entry` the most recently used. */
  #touch(entry: Entry): void {
    if (entry === this.#newest) return;
    // unlink (it has a newer neighbour, since it is not the newest)
    entry.newer!.older = entry.older;
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    // append
    entry.older = this.#newest;
    entry.newer = undefined;
    this.#newest!.newer = entry;
    this.#newest = entry;
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry.key);
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.#newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
  }

  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) this.#remove(entry);
  }

  /** Drops keys the cache can no longer vouch for (changed by others, or deleted by the owner index); replies in flight for them are not taken. */
  drop(keys: Iterable<string>): void {
    for (const key of keys) {
      this.#forget(key);
      const pending = this.#pending.get(key);
      if (pending !== undefined) pending.dirty = true;
    }
  }

  /** Redis says these keys changed. */
  invalidate(keys: string[]): void {
    this.drop(keys);
    this.#invalidations += keys.length;
    this.#report('invalidate', keys);
  }

  /** A PING sent at `sent` was answered on the invalidation connection. */
  renew(sent: number): void {
    if (sent + LEASE_MS > this.#leaseUntil) this.#leaseUntil = sent + LEASE_MS;
  }

  /** Tracking is confirmed: replies to commands sent from now on may fill the cache. */
  enable(): void {
    if (this.#on || this.#disabled !== undefined) return;
    this.#epoch++;
    this.#on = true;
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS).unref();
    debug('cache on');
  }

  /** A gap in the invalidation stream, or a server flush: nothing held can be trusted. */
  flush(reason: string): void {
    const had = this.#on || this.#entries.size > 0;
    this.#epoch++;
    this.#on = false;
    this.#leaseUntil = 0;
    this.#entries.clear();
    this.#oldest = this.#newest = undefined;
    for (const pending of this.#pending.values()) pending.dirty = true;
    if (!had) return;
    this.#flushes++;
    debug('cache flushed: %s', reason);
    this.#report('flush', reason);
  }

  /** The cache stays off for good; `reason` is kept for `stats()`. */
  disable(reason: string): void {
    this.flush(reason);
    this.#disabled ??= reason;
  }

  close(): void {
    this.flush('store closed');
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  stats(): RedisCacheStats {
    return {
      tracking: this.#on && Date.now() < this.#leaseUntil,
      disabled: this.#disabled,
      entries: this.#entries.size,
      max: this.max,
      hits: this.#hits,
      misses: this.#misses,
      invalidations: this.#invalidations,
      flushes: this.#flushes,
      evictions: this.#evictions,
    };
  }

  #sweep(): void {
    const now = Date.now();
    for (const entry of this.#entries.values()) if (entry.expires <= now) this.#remove(entry);
  }
}

/**
 * Keeps Redis's server-assisted tracking on for the store's connection
 * (standalone or Sentinel): a second connection of the store's own
 * subscribes to the invalidation channel, and the command connection asks
 * Redis to send it the invalidations of every key it reads
 * (`CLIENT TRACKING ON REDIRECT <id> NOLOOP`). NOLOOP leaves out this
 * connection's own writes: the store applies those to the cache itself.
 *
 * Any sign of a gap (either connection closing or reconnecting, a server
 * flush) flushes the cache; tracking is set up again once both connections
 * are back. Before the redirect is set, the command connection checks that
 * the subscriber is on its own server (by the subscriber's unique client
 * name): after a failover the two may reach different servers for a while,
 * and client ids repeat between servers.
 */
export class CacheTracking {
  readonly #client: Redis;
  readonly #cache: SessionCache;
  readonly #prefix: string;
  readonly #name: string;
  readonly #subscriber: Redis;
  readonly #detach: Array<() => void> = [];
  /** The subscriber's client id, once it listens on the invalidation channel. */
  #subscriberId: number | undefined;
  /** Bumped by every gap: a set-up that saw another value gives up. */
  #round = 0;
  /**
   * Bumped when the subscriber's connection is lost: its subscription (and
   * id) belongs to that connection. A gap of the command connection alone
   * leaves it valid; `#link` sets tracking up again once that one is back.
   */
  #subscriberRound = 0;
  #linking = false;
  #closed = false;
  readonly #heartbeat: NodeJS.Timeout;
  /** When the PING in flight was sent, or undefined. */
  #pingSent: number | undefined;
  readonly #commandTimeout: number;

  constructor(client: Redis, cache: SessionCache, commandTimeout: number) {
    this.#client = client;
    this.#cache = cache;
    this.#commandTimeout = commandTimeout;
    this.#prefix = client.options.keyPrefix ?? '';
    this.#name = `${client.options.connectionName || 'koa-session'}:invalidations:${randomBytes(6).toString('hex')}`;
    // the subscriber reaches the same server the same way (Sentinel included), under a name only it has
    const options: Partial<RedisOptions> & { protocol?: 2 } = {
      lazyConnect: true,
      autoResubscribe: false,
      connectionName: this.#name,
      keyPrefix: undefined,
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // RESP2 whatever the store's client speaks: Redis sends a RESP2 subscriber the invalidations as messages on
      // INVALIDATE, a RESP3 one (ioredis 6's default) as `invalidate` push frames, which ioredis drops unseen
      protocol: 2,
    };
    this.#subscriber = client.duplicate(options);
    this.#listen();
    this.#heartbeat = setInterval(() => this.#ping(), HEARTBEAT_MS).unref();
    if (client.status === 'ready') this.#connectSubscriber();
  }

  /** Stops tracking and closes the subscriber within `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#gap('store closed');
    for (const detach of this.#detach) detach();
    // a closing connection may still report failed attempts
    this.#subscriber.on('error', (err: Error) => debug('invalidation connection: %s', err?.message));
    await closeClient(this.#subscriber, timeoutMs);
  }

  #listen(): void {
    const on = (emitter: Redis, event: string, listener: (...args: never[]) => void) => {
      const handler = listener as unknown as (...args: unknown[]) => void;
      emitter.on(event, handler);
      this.#detach.push(() => emitter.off(event, handler));
    };
    const client = this.#client;
    const sub = this.#subscriber;
    on(client, 'ready', () => {
      this.#connectSubscriber();
      void this.#link();
    });
    for (const event of ['close', 'reconnecting', 'end']) on(client, event, () => this.#gap(`command connection ${event}`));
    on(sub, 'error', (err: Error) => debug('invalidation connection: %s', err?.message));
    on(sub, 'ready', () => void this.#subscribe());
    for (const event of ['close', 'reconnecting', 'end']) {
      on(sub, event, () => {
        this.#subscriberId = undefined;
        this.#subscriberRound++;
        this.#gap(`invalidation connection ${event}`);
      });
    }
    on(sub, 'messageBuffer', (channel: Buffer, message: Buffer[] | Buffer | null) => {
      if (String(channel) !== INVALIDATE) return;
      if (message === null) return this.#serverFlushed();
      if (!Array.isArray(message)) return; // RESP2 invalidations are arrays of keys; anything else is not ours
      const keys: string[] = [];
      for (const raw of message) {
        const key = String(raw);
        if (key.startsWith(this.#prefix)) keys.push(key.slice(this.#prefix.length));
      }
      this.#cache.invalidate(keys);
    });
  }

  #connectSubscriber(): void {
    if (this.#closed || this.#subscriber.status !== 'wait') return;
    this.#subscriber.connect().catch((err: unknown) => debug('invalidation connection: %s', (err as Error)?.message));
  }

  #gap(reason: string): void {
    this.#round++;
    this.#pingSent = undefined;
    this.#cache.flush(reason);
  }

  /**
   * The heartbeat: each PONG extends the cache's lease. A PING unanswered
   * for the store's commandTimeout means the connection is dead without
   * having closed: it is reconnected, which flushes the cache.
   */
  #ping(): void {
    if (this.#subscriberId === undefined || this.#closed) return;
    const now = Date.now();
    if (this.#pingSent !== undefined) {
      if (now - this.#pingSent < this.#commandTimeout) return;
      debug('the invalidation connection did not answer a PING within %dms; reconnecting it', this.#commandTimeout);
      this.#subscriber.disconnect(true);
      return;
    }
    const round = this.#round;
    this.#pingSent = now;
    this.#subscriber.ping().then(
      () => {
        if (round !== this.#round) return;
        this.#pingSent = undefined;
        this.#cache.renew(now);
      },
      (err: unknown) => debug('invalidation connection PING: %s', (err as Error)?.message),
    );
  }

  /**
   * FLUSHALL or FLUSHDB: every key this process held is gone, while both
   * connections and the tracking stay as they were; the cache starts empty
   * at once (replies in flight from before are not taken).
   */
  #serverFlushed(): void {
    const wasOn = this.#cache.on;
    this.#cache.flush('the server flushed its data');
    if (!wasOn) return;
    this.#cache.enable();
    this.#ping();
  }

  async #subscribe(): Promise<void> {
    const sub = this.#subscriber;
    const round = this.#subscriberRound;
    let step = 'CLIENT ID';
    try {
      // CLIENT ID is not allowed once subscribed (RESP2)
      const id = Number(await sub.client('ID'));
      step = `SUBSCRIBE ${INVALIDATE}`;
      await sub.subscribe(INVALIDATE);
      if (round !== this.#subscriberRound || this.#closed) return;
      this.#subscriberId = id;
      this.#ping();
      void this.#link();
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      debug('invalidation connection set-up failed: %s', message);
      // an ACL without the channel (Redis 7 gives new users none: acl-pubsub-default resetchannels) will not change on retry
      if (isRefusal(err, message)) this.#disable(`the server refused ${step}: ${message}`);
    }
  }

  /** Turns tracking on once both connections are ready; safe to call at any time. */
  async #link(): Promise<void> {
    const id = this.#subscriberId;
    if (this.#linking || this.#closed || id === undefined || this.#client.status !== 'ready') return;
    if (this.#cache.disabled !== undefined) return;
    this.#linking = true;
    const round = this.#round;
    const client = this.#client;
    let step = 'INFO server';
    try {
      const info = String(await client.info('server'));
      const version = /^redis_version:(\d+)\./m.exec(info)?.[1];
      if (version === undefined || Number(version) < MIN_MAJOR) {
        this.#disable(`the server is Redis ${version ?? '(unknown version)'}; the cache needs Redis ${MIN_MAJOR}.0 or later`);
        return;
      }
      step = 'CLIENT LIST';
      const listed = String(await client.call('CLIENT', 'LIST', 'ID', String(id)));
      if (!listed.includes(` name=${this.#name} `)) {
        // the two connections reached different servers (a failover in progress): let the subscriber find the master again
        debug('the invalidation connection is on another server; reconnecting it');
        if (round === this.#round) this.#subscriber.disconnect(true);
        return;
      }
      step = 'CLIENT TRACKING';
      await client.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'NOLOOP');
      if (round === this.#round && !this.#closed && id === this.#subscriberId && client.status === 'ready') {
        this.#cache.enable();
        // a flush ended the lease: hits resume with the next PONG, so the first PING goes now, not on the next beat
        this.#ping();
      }
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      debug('turning tracking on failed: %s', message);
      if (isRefusal(err, message)) this.#disable(`the server refused ${step}: ${message}`);
    } finally {
      this.#linking = false;
    }
    // something changed while linking: try again with what is there now
    if (!this.#cache.on && round !== this.#round) void this.#link();
  }

  #disable(reason: string): void {
    this.#cache.disable(reason);
    // nothing will ever use the invalidations: stop listening for them
    clearInterval(this.#heartbeat);
    this.#subscriber.disconnect();
    warnRedisOption('cache', `RedisStore's cache is off: ${reason}. Sessions are read from Redis on every request`);
  }
}

/** A server error that will not change on retry (unknown command, no permission, a proxy that does not support it). */
function isRefusal(err: unknown, message: string): boolean {
  return (err as Error)?.name === 'ReplyError' && /unknown|NOPERM|not allowed|syntax|unsupported/i.test(message);
}
