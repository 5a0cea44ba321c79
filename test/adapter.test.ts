import { expect } from 'chai';
import { settle, StoreAdapter } from '../lib/store/adapter.js';
import { app, agent } from './support/app.js';
import type { Session, SessionStore } from '../lib/index.js';

const session = (): Session => ({ cookie: {}, n: 1 });

describe('store adapter', () => {
  it('passes plain values through synchronously', () => {
    const value = { cookie: {} };
    expect(settle(value)).to.equal(value);
    expect(settle(null)).to.equal(null);
  });

  it('settles promises, thenables, thunks, generator objects and generator functions', async () => {
    expect(await settle(Promise.resolve(1))).to.equal(1);
    expect(await settle({ then: (ok: (v: number) => void) => ok(2) } as unknown as PromiseLike<number>)).to.equal(2);
    expect(await settle((cb: (e: unknown, v?: number) => void) => setImmediate(() => cb(null, 3)))).to.equal(3);
    expect(
      await settle(
        (function* () {
          const x: number = yield Promise.resolve(4);
          return x;
        })(),
      ),
    ).to.equal(4);
    expect(
      await settle(function* () {
        return 5;
      } as never),
    ).to.equal(5);
  });

  it('turns a thunk error and a synchronous throw into rejections', async () => {
    const thunkStore = { get: () => (cb: (e: unknown) => void) => cb(new Error('thunk')), set() {}, destroy() {} };
    const throwing = {
      get() {
        throw new Error('sync');
      },
      set() {},
      destroy() {},
    };
    await Promise.resolve(new StoreAdapter(thunkStore as SessionStore).get('k')).then(
      () => expect.fail('resolved'),
      (e: Error) => expect(e.message).to.equal('thunk'),
    );
    await Promise.resolve(new StoreAdapter(throwing as SessionStore).get('k')).then(
      () => expect.fail('resolved'),
      (e: Error) => expect(e.message).to.equal('sync'),
    );
  });

  it('closes a store with the first of quit, close and disconnect it has', async () => {
    const called: string[] = [];
    const store = {
      get() {},
      set() {},
      destroy() {},
      close: () => called.push('close'),
      disconnect: () => called.push('disconnect'),
    };
    await new StoreAdapter(store as SessionStore).shutdown();
    expect(called).to.deep.equal(['close']);
  });

  // every shape a koa-generic-session store has been written in: all must store and load
  const shapes: Record<string, () => SessionStore> = {
    promise: () => {
      const m = new Map<string, Session>();
      return { get: async (k) => m.get(k), set: async (k, v) => void m.set(k, v), destroy: async (k) => void m.delete(k) };
    },
    sync: () => {
      const m = new Map<string, Session>();
      return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v), destroy: (k) => void m.delete(k) };
    },
    thunk: () => {
      const m = new Map<string, Session>();
      return {
        get: (k: string) => (cb: (e: unknown, v?: Session) => void) => setImmediate(() => cb(null, m.get(k))),
        set: (k: string, v: Session) => (cb: (e: unknown, v?: unknown) => void) => setImmediate(() => cb(null, void m.set(k, v))),
        destroy: (k: string) => (cb: (e: unknown, v?: unknown) => void) => setImmediate(() => cb(null, void m.delete(k))),
      } as SessionStore;
    },
    generator: () => {
      const m = new Map<string, Session>();
      return {
        *get(k: string) {
          yield Promise.resolve();
          return m.get(k);
        },
        *set(k: string, v: Session) {
          yield Promise.resolve();
          m.set(k, v);
        },
        *destroy(k: string) {
          m.delete(k);
        },
      } as unknown as SessionStore;
    },
  };

  for (const [shape, make] of Object.entries(shapes)) {
    it(`round-trips a session through a ${shape} store`, async () => {
      const store = make();
      const a = agent(
        app({ store }, (ctx) => {
          if (ctx.path === '/out') ctx.session = null;
          else ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
          ctx.body = { n: ctx.session?.n ?? 0 };
        }),
      );
      expect((await a.get('/')).body.n).to.equal(1);
      expect((await a.get('/')).body.n).to.equal(2);
      await a.get('/out');
      expect((await a.get('/')).body.n).to.equal(1);
      expect(session().n).to.equal(1);
    });
  }
});
