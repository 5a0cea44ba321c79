import co from 'co';

/** co's types only admit generator functions; it runs generator objects and thunks too. */
const run = co as unknown as <T>(task: unknown) => Promise<T>;
import type { OwnedSession, OwnerChange, SessionPatch, SessionStore, StoreResult } from '../types.js';
import { SessionStoreTimeoutError, type StoreMethod } from '../errors.js';

/**
 * A value or a promise of it. Store answers that are already plain values stay
 * synchronous, so a synchronous store (MemoryStore) costs no extra microtask.
 */
export type MaybePromise<T> = T | Promise<T>;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function isGenerator(value: unknown): value is Generator {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Generator).next === 'function' &&
    typeof (value as Generator).throw === 'function'
  );
}

function isGeneratorFunction(fn: Function): boolean {
  const ctor = (fn as { constructor?: { name?: string } }).constructor;
  return ctor?.name === 'GeneratorFunction';
}

function thunkToPromise<T>(thunk: (cb: (err: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    thunk((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}

/**
 * Turns whatever a store method returned into a value or a promise: promises
 * and thenables, thunks (thunkify style), generator objects (koa v1 stores,
 * run with co), and plain values. koa-generic-session 2.x only awaited, so a
 * generator store silently stored nothing there.
 */
export function settle<T>(result: StoreResult<T>): MaybePromise<T> {
  if (result instanceof Promise) return result;
  if (isThenable(result)) return Promise.resolve(result) as Promise<T>;
  if (typeof result === 'function') {
    if (isGeneratorFunction(result)) return run<T>(result);
    return thunkToPromise(result as (cb: (err: unknown, value?: T) => void) => void);
  }
  if (isGenerator(result)) return run<T>(result);
  return result as T;
}

/** Calls `fn` and settles its result; a synchronous throw becomes a rejection. */
function call<T>(fn: () => StoreResult<T>): MaybePromise<T> {
  try {
    return settle(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

const SHUTDOWN_METHODS = ['quit', 'close', 'disconnect'] as const;

/**
 * One async API over any store shape. Keys it receives are already prefixed.
 * Every call that does not answer at once is bounded by `timeout` (the
 * middleware's `storeTimeout`). Kept internal: the public contract is `SessionStore`.
 */
export class StoreAdapter {
  readonly client: SessionStore;
  readonly canTouch: boolean;
  readonly canMerge: boolean;
  readonly canIndexOwners: boolean;
  readonly canMove: boolean;
  /** Called after an asynchronous call succeeded: the store serves (again). */
  onAnswer: (() => void) | undefined = undefined;
  readonly #timeout: number;

  constructor(client: SessionStore, timeout = 10_000) {
    this.client = client;
    this.#timeout = timeout;
    this.canTouch = typeof client.touch === 'function';
    this.canMerge = typeof client.merge === 'function';
    this.canMove = typeof client.move === 'function';
    this.canIndexOwners = typeof client.listOwned === 'function' && typeof client.destroyOwned === 'function';
  }

  get(key: string): MaybePromise<unknown> {
    return this.#bounded('get', call(() => this.client.get(key)));
  }

  set(
    key: string,
    session: Parameters<SessionStore['set']>[1],
    ttl: number | undefined,
    owner?: OwnerChange,
  ): MaybePromise<unknown> {
    return this.#bounded(
      'set',
      call(() => (owner ? this.client.set(key, session, ttl, owner) : this.client.set(key, session, ttl))),
    );
  }

  destroy(key: string, owner?: OwnerChange): MaybePromise<unknown> {
    return this.#bounded('destroy', call(() => (owner ? this.client.destroy(key, owner) : this.client.destroy(key))));
  }

  touch(key: string, ttl: number | undefined, owner?: OwnerChange): MaybePromise<unknown> {
    const touch = this.client.touch as NonNullable<SessionStore['touch']>;
    return this.#bounded(
      'touch',
      call(() => (owner ? touch.call(this.client, key, ttl, owner) : touch.call(this.client, key, ttl))),
    );
  }

  listOwned(owner: string): MaybePromise<OwnedSession[]> {
    return this.#bounded(
      'listOwned',
      call(() => (this.client.listOwned as NonNullable<SessionStore['listOwned']>).call(this.client, owner)),
    );
  }

  destroyOwned(owner: string, exceptKey: string | undefined): MaybePromise<number> {
    return this.#bounded(
      'destroyOwned',
      call(() => (this.client.destroyOwned as NonNullable<SessionStore['destroyOwned']>).call(this.client, owner, exceptKey)),
    );
  }

  merge(key: string, patch: SessionPatch, ttl: number | undefined, owner?: OwnerChange): MaybePromise<unknown> {
    const merge = this.client.merge as NonNullable<SessionStore['merge']>;
    return this.#bounded(
      'merge',
      call(() => (owner ? merge.call(this.client, key, patch, ttl, owner) : merge.call(this.client, key, patch, ttl))),
    );
  }

  move(fromKey: string, toKey: string): MaybePromise<unknown> {
    const move = this.client.move as NonNullable<SessionStore['move']>;
    return call(() => move.call(this.client, fromKey, toKey));
  }

  /** Closes the store with the first of quit/close/disconnect it has; resolves when done. */
  async shutdown(): Promise<void> {
    for (const name of SHUTDOWN_METHODS) {
      const method = this.client[name];
      if (typeof method === 'function') {
        await call(() => method.call(this.client));
        return;
      }
    }
  }

  /**
   * Subscribes to the store's events when it is an emitter; returns an
   * unsubscribe function. However many middlewares share one store, it gets
   * one listener per event (see `subscribe`).
   */
  listen(event: 'connect' | 'disconnect', listener: () => void): () => void {
    return subscribe(this.client, event, listener);
  }

  /**
   * Fails a pending call with `SessionStoreTimeoutError` after `timeout`.
   * The store's own call cannot be cancelled: its late result (or error) is
   * ignored. Plain values pass through untouched, without a timer.
   */
  #bounded<T>(method: StoreMethod, result: MaybePromise<T>): MaybePromise<T> {
    if (!(result instanceof Promise)) return result;
    const timeout = this.#timeout;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SessionStoreTimeoutError(method, timeout)), timeout);
      // a request waiting on the store holds its socket open; the timer alone must not hold the process
      timer.unref();
      result.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
          this.onAnswer?.();
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}

type StoreEvent = 'connect' | 'disconnect';

/** The one listener a store has for an event, and the subscribers it calls. */
interface Relay {
  listeners: Set<() => void>;
  relay: () => void;
}

/** store -> event -> its relay, shared by every middleware on that store. */
const relays = new WeakMap<object, Map<StoreEvent, Relay>>();

/**
 * One listener on `store` for `event`, calling every subscriber. Several
 * middlewares on one store (sub-apps, several apps in one process) would
 * otherwise add a listener each, and past ten Node warns of a leak
 * (MaxListenersExceededWarning) on a store the app did nothing wrong with.
 * The store's listener goes when its last subscriber does.
 */
function subscribe(store: SessionStore, event: StoreEvent, listener: () => void): () => void {
  if (typeof store.on !== 'function') return () => {};
  let events = relays.get(store);
  if (events === undefined) relays.set(store, (events = new Map()));
  let entry = events.get(event);
  if (entry === undefined) {
    const listeners = new Set<() => void>();
    entry = { listeners, relay: () => [...listeners].forEach((each) => each()) };
    events.set(event, entry);
    store.on(event, entry.relay);
  }
  const { listeners, relay } = entry;
  const byEvent = events;
  listeners.add(listener);
  return () => {
    if (!listeners.delete(listener) || listeners.size > 0) return;
    byEvent.delete(event);
    if (typeof store.off === 'function') store.off(event, relay);
    else if (typeof store.removeListener === 'function') store.removeListener(event, relay);
  };
}
