// Every store shape koa-generic-session apps have, in every Koa version: the
// behaviour suite of koa-versions.test.ts runs against each. A store written
// for 1.x (generator functions, thunks) keeps working when its app moves to
// koa v2 or v3; a store written for 2.x (promises) works in a koa v1 app.
import session1 from 'koa-generic-session-1';
import session2 from 'koa-generic-session';
import type { Session, SessionStore } from '../lib/index.js';
import { KOA1, KOA2_MIXED, KOA3, sessionBehaviour, type InspectableStore } from './support/koa-matrix.js';

type Callback<T> = (err: Error | null, value?: T) => void;

/** A later turn of the event loop, as a network store answers. */
function later<T>(fn: () => T, cb: Callback<T>): void {
  setImmediate(() => {
    try {
      cb(null, fn());
    } catch (err) {
      cb(err as Error);
    }
  });
}

/** Sessions kept as JSON text, so a store never hands out the object it was given. */
class Backing {
  readonly data = new Map<string, string>();
  read = (key: string): Session | undefined => {
    const json = this.data.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as Session);
  };
  get(key: string): Session | null {
    return this.read(key) ?? null;
  }
  set(key: string, session: Session): void {
    this.data.set(key, JSON.stringify(session));
  }
  destroy(key: string): void {
    this.data.delete(key);
  }
}

/** koa-redis 2.x style: generator functions that yield thunks to their client. */
function generatorStore(): InspectableStore {
  const backing = new Backing();
  const store = {
    *get(key: string): Generator<unknown, Session | null, Session | null> {
      return yield (cb: Callback<Session | null>) => later(() => backing.get(key), cb);
    },
    *set(key: string, session: Session, _ttl?: number): Generator<unknown, void, unknown> {
      yield (cb: Callback<void>) => later(() => backing.set(key, session), cb);
    },
    *destroy(key: string): Generator<unknown, void, unknown> {
      yield (cb: Callback<void>) => later(() => backing.destroy(key), cb);
    },
  };
  return { store: store as SessionStore, read: backing.read };
}

/** thunkify style: each method returns a thunk `(callback) => void`. */
function thunkStore(): InspectableStore {
  const backing = new Backing();
  const store = {
    get: (key: string) => (cb: Callback<Session | null>) => later(() => backing.get(key), cb),
    set: (key: string, session: Session, _ttl?: number) => (cb: Callback<void>) => later(() => backing.set(key, session), cb),
    destroy: (key: string) => (cb: Callback<void>) => later(() => backing.destroy(key), cb),
  };
  return { store, read: backing.read };
}

/** koa-redis 3.x/4.x style: async methods. */
function promiseStore(): InspectableStore {
  const backing = new Backing();
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
  const store = {
    async get(key: string) {
      await tick();
      return backing.get(key);
    },
    async set(key: string, session: Session, _ttl?: number) {
      await tick();
      backing.set(key, session);
    },
    async destroy(key: string) {
      await tick();
      backing.destroy(key);
    },
  };
  return { store, read: backing.read };
}

/** Plain values, no callback, no promise. */
function synchronousStore(): InspectableStore {
  const backing = new Backing();
  const store = {
    get: (key: string) => backing.get(key),
    set: (key: string, session: Session, _ttl?: number) => backing.set(key, session),
    destroy: (key: string) => backing.destroy(key),
  };
  return { store, read: backing.read };
}

/** The MemoryStore koa-generic-session 1.x ships: generator functions, and it keeps the objects it is given. */
function memoryStore1(): InspectableStore {
  const store = new session1.MemoryStore();
  return { store: store as unknown as SessionStore, read: (key) => store.sessions[key], live: true };
}

/** The MemoryStore koa-generic-session 2.3.1 ships: synchronous, keeps the objects it is given. */
function memoryStore2(): InspectableStore {
  const store = new session2.MemoryStore();
  return { store: store as SessionStore, read: (key) => store.sessions[key], live: true };
}

const SHAPES: Array<[string, () => InspectableStore]> = [
  ['generator-function methods yielding thunks (koa-redis 2.x style)', generatorStore],
  ['thunk-returning methods (thunkify style)', thunkStore],
  ['promise-returning methods', promiseStore],
  ['synchronous methods returning plain values', synchronousStore],
  ["koa-generic-session 1.x's own MemoryStore (generator functions)", memoryStore1],
  ["koa-generic-session 2.3.1's own MemoryStore (synchronous)", memoryStore2],
];

for (const [shape, makeStore] of SHAPES) {
  describe(`store shape: ${shape}`, () => {
    for (const variant of [KOA1, KOA2_MIXED, KOA3]) {
      for (const defer of [false, true]) {
        describe(`${variant.name}, ${defer ? 'defer' : 'eager'} mode`, () => {
          sessionBehaviour(variant, defer, makeStore);
        });
      }
    }
  });
}
