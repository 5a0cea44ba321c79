import type { OwnedSession, OwnerChange, Session, SessionPatch } from '../types.js';
import { applyPatch, parseSession } from '../session.js';

interface Entry {
  json: string;
  /** Epoch ms, or Infinity for no expiry. */
  expires: number;
  /** Set only for sessions saved with the `owner` option. */
  owner: string | undefined;
  createdAt: number;
  savedAt: number;
  /** The last write that passed an owner (a save or a touch), and the device info it carried. */
  seenAt: number;
  info: string | undefined;
}

export interface MemoryStoreOptions {
  /** How often expired sessions are swept, in ms. Default 60000. The timer never holds the process open. */
  sweepInterval?: number;
}

/**
 * In-process store for development and tests. Unlike koa-generic-session's,
 * it keeps a serialized copy (a later mutation of a request's object changes
 * nothing until it is saved), honours the ttl, frees expired sessions, merges
 * concurrent changes and indexes sessions by owner. It does not scale past
 * one process.
 */
export class MemoryStore {
  readonly #sessions = new Map<string, Entry>();
  /** owner -> keys of their sessions; kept in step with `Entry.owner`. */
  readonly #owners = new Map<string, Set<string>>();
  readonly #sweepInterval: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const interval = options.sweepInterval ?? 60_000;
    if (typeof interval !== 'number' || !Number.isFinite(interval) || interval <= 0) {
      throw new TypeError(
        `MemoryStore option sweepInterval must be a positive number of ms, got ${String(interval)}`,
      );
    }
    this.#sweepInterval = interval;
  }

  /** Number of sessions held, expired ones not yet swept included. */
  get size(): number {
    return this.#sessions.size;
  }

  get(key: string): Session | null {
    const entry = this.#live(key);
    return entry === undefined ? null : parseSession(entry.json);
  }

  set(key: string, session: Session, ttl?: number, owner?: OwnerChange): void {
    if (ttl !== undefined && ttl <= 0) this.#remove(key);
    else this.#put(key, JSON.stringify(session), ttl, owner);
  }

  /**
   * Applies what one request changed onto the stored session, atomically (the
   * store is synchronous). Returns false and writes nothing when the session
   * is gone: destroyed or expired sessions are never resurrected. When the
   * store still holds the text the request loaded (`patch.base`), nothing
   * else wrote in between, and the request's whole session (`patch.json`) is
   * the result.
   */
  merge(key: string, patch: SessionPatch, ttl?: number, owner?: OwnerChange): boolean {
    const entry = this.#live(key);
    if (entry === undefined) return false;
    if (patch.json !== undefined && patch.base === entry.json) {
      this.#put(key, patch.json, ttl, owner, entry);
      return true;
    }
    const data = JSON.parse(entry.json) as Record<string, unknown>;
    applyPatch(data, patch);
    this.#put(key, JSON.stringify(data), ttl, owner, entry);
    return true;
  }

  /** Stores `json` under `key`; `previous` is the entry there now, when the caller already looked it up. */
  #put(
    key: string,
    json: string,
    ttl: number | undefined,
    owner: OwnerChange | undefined,
    previous: Entry | undefined = this.#sessions.get(key),
  ): void {
    if (ttl !== undefined && ttl <= 0) {
      this.#remove(key);
      return;
    }
    const now = Date.now();
    const expires = ttl === undefined ? Infinity : now + ttl;
    const entry: Entry = {
      json,
      expires,
      owner: previous?.owner,
      createdAt: previous?.createdAt ?? now,
      savedAt: now,
      seenAt: previous?.seenAt ?? now,
      info: previous?.info,
    };
    this.#sessions.set(key, entry);
    if (owner !== undefined) this.#index(key, entry, owner, now);
    if (expires !== Infinity) this.#schedule();
  }

  /** Moves the session at `fromKey` to `toKey` (its ttl and owner kept) unless `toKey` holds one; returns the session at `toKey`. */
  move(fromKey: string, toKey: string): Session | null {
    const existing = this.#live(toKey);
    if (existing !== undefined) return parseSession(existing.json);
    const entry = this.#live(fromKey);
    if (entry === undefined) return null;
    this.#sessions.delete(fromKey);
    this.#sessions.set(toKey, entry);
    if (entry.owner !== undefined) {
      this.#unindex(fromKey, entry.owner);
      let keys = this.#owners.get(entry.owner);
      if (keys === undefined) this.#owners.set(entry.owner, (keys = new Set()));
      keys.add(toKey);
    }
    return parseSession(entry.json);
  }

  touch(key: string, ttl?: number, owner?: OwnerChange): void {
    const entry = this.#live(key);
    if (entry === undefined) return;
    const now = Date.now();
    entry.expires = ttl === undefined ? Infinity : now + ttl;
    if (owner !== undefined) this.#index(key, entry, owner, now);
  }

  destroy(key: string): void {
    this.#remove(key);
  }

  /** The live sessions saved with `owner`. */
  listOwned(owner: string): OwnedSession[] {
    const keys = this.#owners.get(owner);
    if (keys === undefined) return [];
    const sessions: OwnedSession[] = [];
    for (const key of [...keys]) {
      const entry = this.#live(key);
      if (entry === undefined) continue;
      sessions.push({
        key,
        createdAt: entry.createdAt,
        savedAt: entry.savedAt,
        expiresAt: entry.expires === Infinity ? null : entry.expires,
        lastSeenAt: entry.seenAt,
        ...(entry.info === undefined ? {} : { info: entry.info }),
      });
    }
    return sessions;
  }

  /** Destroys every session of `owner` except `exceptKey`; returns how many it destroyed. */
  destroyOwned(owner: string, exceptKey?: string): number {
    const keys = this.#owners.get(owner);
    if (keys === undefined) return 0;
    let destroyed = 0;
    for (const key of [...keys]) {
      if (key === exceptKey) continue;
      if (this.#live(key) !== undefined) destroyed++;
      this.#remove(key);
    }
    return destroyed;
  }

  /** Removes every expired session now; returns how many were removed. */
  sweep(now = Date.now()): number {
    let removed = 0;
    for (const [key, entry] of this.#sessions) {
      if (entry.expires <= now) {
        this.#remove(key);
        removed++;
      }
    }
    if (this.#sessions.size === 0) this.#stop();
    return removed;
  }

  /** Stops the sweep timer; the sessions stay. */
  close(): void {
    this.#stop();
  }

  /** The entry if it exists and has not expired; an expired one is removed. */
  #live(key: string): Entry | undefined {
    const entry = this.#sessions.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= Date.now()) {
      this.#remove(key);
      return undefined;
    }
    return entry;
  }

  #remove(key: string): void {
    const entry = this.#sessions.get(key);
    if (entry === undefined) return;
    this.#sessions.delete(key);
    if (entry.owner !== undefined) this.#unindex(key, entry.owner);
  }

  #index(key: string, entry: Entry, change: OwnerChange, now: number): void {
    const owner = change.owner;
    if (owner !== undefined) {
      entry.seenAt = now;
      if (change.info !== undefined) entry.info = change.info;
    }
    if (entry.owner === owner) return;
    if (entry.owner !== undefined) this.#unindex(key, entry.owner);
    entry.owner = owner;
    // the creation time an owner's device list shows: the first save under this owner
    entry.createdAt = now;
    entry.seenAt = now;
    // device info belongs to the owner's entry: a new owner starts without the previous one's
    entry.info = change.info;
    if (owner === undefined) return;
    let keys = this.#owners.get(owner);
    if (keys === undefined) this.#owners.set(owner, (keys = new Set()));
    keys.add(key);
    if (change.limit !== undefined) this.#limit(keys, key, change);
  }

  /** Ends the owner's sessions seen least recently until `change.limit` remain, never `key` (the one being written). */
  #limit(keys: Set<string>, key: string, change: OwnerChange): void {
    const others: Array<[string, number]> = [];
    for (const other of [...keys]) {
      if (other === key) continue;
      const entry = this.#live(other);
      if (entry !== undefined) others.push([other, entry.seenAt]);
    }
    const excess = others.length + 1 - change.limit!;
    if (excess <= 0) return;
    others.sort((a, b) => a[1] - b[1]);
    const ended = others.slice(0, excess).map(([other]) => other);
    for (const other of ended) this.#remove(other);
    (change.ended ??= []).push(...ended);
  }

  #unindex(key: string, owner: string): void {
    const keys = this.#owners.get(owner);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.#owners.delete(owner);
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.sweep(), this.#sweepInterval);
    this.#timer.unref();
  }

  #stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
