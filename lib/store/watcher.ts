import { EventEmitter } from 'node:events';
import { debuglog } from 'node:util';
import type { StoreStatus } from '../types.js';
import type { StoreAdapter } from './adapter.js';
import { SessionStoreUnavailableError } from '../errors.js';

const debug = debuglog('koa-generic-session:watcher');

/** One disconnect-to-connect window: every waiter shares its promise. */
interface Window {
  since: number;
  /** Resolves true on `connect`, false when `reconnectTimeout` passes. Never rejects. */
  settled: Promise<boolean>;
  resolve: (connected: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * Follows a store's `disconnect`/`connect` events. After a disconnect, requests
 * wait (status `pending`) until `connect` or until `reconnectTimeout` has
 * passed since the disconnect; then they fail fast (`unavailable`) until
 * `connect`. Unlike koa-generic-session 2.3.1: the window's promise never
 * rejects (no unhandled rejection when nobody waits), each window has one
 * unref'd timer that `connect` clears, and waiters add no listeners to the store.
 *
 * Emits `status` (status, previous) on every transition; `closed` is the last.
 */
export class StoreWatcher extends EventEmitter {
  #status: StoreStatus = 'available';
  #window: Window | undefined;
  #closing = false;
  readonly #reconnectTimeout: number;
  readonly #unsubscribe: Array<() => void>;

  constructor(store: StoreAdapter, reconnectTimeout: number) {
    super();
    this.#reconnectTimeout = reconnectTimeout;
    this.#unsubscribe = [
      store.listen('disconnect', () => this.#onDisconnect()),
      store.listen('connect', () => this.#onConnect()),
    ];
  }

  get status(): StoreStatus {
    return this.#status;
  }

  /**
   * Resolves when the store can be used; rejects with
   * `SessionStoreUnavailableError` when it cannot. Call only when
   * `status !== 'available'` to keep the common path synchronous.
   */
  async wait(): Promise<void> {
    const window = this.#window;
    if (this.#status === 'unavailable') throw new SessionStoreUnavailableError(0);
    if (window === undefined) return;
    const started = Date.now();
    const connected = await window.settled;
    if (!connected) throw new SessionStoreUnavailableError(Date.now() - started);
  }

  /**
   * Shutdown: from now on a disconnect is expected and changes nothing. The
   * status becomes `closed` straight from wherever it was: going through
   * `available` would tell monitoring that a store which never came back
   * had recovered. Requests still waiting in a pending window go on (their
   * writes are what the shutdown waits for).
   */
  close(): void {
    this.#closing = true;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#endWindow(true);
    this.#set('closed');
  }

  #onDisconnect(): void {
    if (this.#closing || this.#status !== 'available') return;
    let resolve!: (connected: boolean) => void;
    const settled = new Promise<boolean>((r) => (resolve = r));
    const timer = setTimeout(() => {
      debug('no connect within %dms: store unavailable', this.#reconnectTimeout);
      this.#endWindow(false);
      this.#set('unavailable');
    }, this.#reconnectTimeout);
    timer.unref();
    this.#window = { since: Date.now(), settled, resolve, timer };
    this.#set('pending');
  }

  #onConnect(): void {
    if (this.#status === 'available') return;
    this.#endWindow(true);
    this.#set('available');
  }

  #endWindow(connected: boolean): void {
    const window = this.#window;
    if (window === undefined) return;
    clearTimeout(window.timer);
    window.resolve(connected);
    this.#window = undefined;
  }

  #set(status: StoreStatus): void {
    const previous = this.#status;
    if (previous === status) return;
    this.#status = status;
    debug('store %s -> %s', previous, status);
    this.emit('status', status, previous);
  }
}
