import type { Session, SessionPatch } from '../types.js';
import { applyPatch, parseSession } from '../session.js';

interface Entry {
  json: string;
  /** Epoch ms, or Infinity for no expiry. */
  expires: number;
}

export interface MemoryStoreOptions {
  /** How often expired sessions are swept, in ms. Default 60000. The timer never holds the process open. */
  sweepInterval?: number;
}

/**
 * In-process store for development and tests. Unlike koa-generic-session's,
 * it keeps a serialized copy (a later mutation of a request's object changes
 * nothing until it is saved), honours the ttl, and frees expired sessions.
 * It does not scale past one process.
 */
export class MemoryStore {
  readonly #sessions = new Map<string, Entry>();
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
    const entry = this.#sessions.get(key);
    if (entry === undefined) return null;
    if (entry.expires <= Date.now()) {
      this.#sessions.delete(key);
      return null;
    }
    return parseSession(entry.json);
  }

  set(key: string, session: Session, ttl?: number): void {
    if (ttl !== undefined && ttl <= 0) {
      this.#sessions.delete(key);
      return;
    }
    const expires = ttl === undefined ? Infinity : Date.now() + ttl;
    this.#sessions.set(key, { json: JSON.stringify(session), expires });
    if (expires !== Infinity) this.#schedule();
  }

  /**
   * Applies what one request changed onto the stored session, atomically (the
   * store is synchronous). Returns false and writes nothing when the session
   * is gone: destroyed or expired sessions are never resurrected.
   */
  merge(key: string, patch: SessionPatch, ttl?: number): boolean {
    const entry = this.#sessions.get(key);
    if (entry === undefined || entry.expires <= Date.now()) {
      this.#sessions.delete(key);
      return false;
    }
    const data = JSON.parse(entry.json) as Record<string, unknown>;
    applyPatch(data, patch);
    this.set(key, data as Session, ttl);
    return true;
  }

  touch(key: string, ttl?: number): void {
    const entry = this.#sessions.get(key);
    if (entry === undefined) return;
    entry.expires = ttl === undefined ? Infinity : Date.now() + ttl;
  }

  destroy(key: string): void {
    this.#sessions.delete(key);
  }

  /** Removes every expired session now; returns how many were removed. */
  sweep(now = Date.now()): number {
    let removed = 0;
    for (const [key, entry] of this.#sessions) {
      if (entry.expires <= now) {
        this.#sessions.delete(key);
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
