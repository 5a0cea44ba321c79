import co from 'co';
import type { SessionContext } from '../lib/types.js';

type ModernMiddleware = (ctx: SessionContext, next: () => Promise<unknown>) => Promise<void>;

/** koa v1 middleware: a generator function called as `fn.call(ctx, downstream)`. */
export type Koa1Middleware = (this: SessionContext, next: Generator) => Generator;

/**
 * co's types only admit generator functions; it runs generator objects too, as
 * koa v1 itself does, with the context as `this` for whatever they yield.
 */
const runGenerator = co as unknown as (this: SessionContext, task: Generator) => Promise<unknown>;

const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor as FunctionConstructor;

/** Context and store methods that return promises, where koa-generic-session 1.x had generator functions. */
const CONTEXT_METHODS = ['regenerateSession', 'saveSession'] as const;
const STORE_METHODS = ['get', 'set', 'destroy'] as const;

function isGeneratorObject(value: unknown): value is Generator {
  return Object.prototype.toString.call(value) === '[object Generator]';
}

/**
 * Makes a promise also iterable, so that koa v1 code can delegate to it with
 * `yield*` as it did to koa-generic-session 1.x's generators
 * (`var session = yield* this.session`): the iterator yields the promise to
 * co and returns what it resolves to. `yield` and `await` are unaffected.
 */
function yieldable<T>(value: T): T {
  if (value instanceof Promise && !(Symbol.iterator in value)) {
    Object.defineProperty(value, Symbol.iterator, {
      configurable: true,
      *value(): Generator<unknown, unknown, unknown> {
        return yield value;
      },
    });
  }
  return value;
}

function findAccessor(object: object, key: string): PropertyDescriptor | undefined {
  for (let o: object | null = object; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(o, key);
    if (descriptor !== undefined) return descriptor.get !== undefined ? descriptor : undefined;
  }
  return undefined;
}

/** `ctx.sessionStore` as koa v1 code sees it, one per store: the same object, with yield*-able results. */
const yieldableStores = new WeakMap<object, object>();

function yieldableStore(store: object): object {
  let view = yieldableStores.get(store);
  if (view === undefined) {
    view = Object.create(store) as object;
    for (const name of STORE_METHODS) {
      const method = (store as Record<string, unknown>)[name];
      if (typeof method !== 'function') continue;
      Object.defineProperty(view, name, {
        configurable: true,
        writable: true,
        // called on the store itself: its private fields are not on the view
        value: (...args: unknown[]): unknown => yieldable((method as (...a: unknown[]) => unknown).apply(store, args)),
      });
    }
    yieldableStores.set(store, view);
  }
  return view;
}

/**
 * Gives what this request's context API returns as promises (`session` in
 * defer mode, `regenerateSession()`, `saveSession()`, `sessionStore`
 * methods) the `yield*` support of 1.x's generators. The core has installed
 * its context API by the time downstream runs; this layers over it on the
 * context itself, so koa v2/v3 requests never pay for it.
 */
function exposeYieldables(ctx: SessionContext): void {
  const own = (key: string) => Object.prototype.hasOwnProperty.call(ctx, key);
  const session = findAccessor(ctx, 'session');
  if (session !== undefined && !own('session')) {
    Object.defineProperty(ctx, 'session', {
      configurable: true,
      get(this: SessionContext): unknown {
        return yieldable(session.get?.call(this));
      },
      set(this: SessionContext, value: unknown) {
        session.set?.call(this, value);
      },
    });
  }
  const api = ctx as unknown as Record<string, unknown>;
  for (const name of CONTEXT_METHODS) {
    const method = api[name];
    if (typeof method !== 'function' || own(name)) continue;
    const wrapped = function (this: SessionContext, ...args: unknown[]): unknown {
      return yieldable((method as (...a: unknown[]) => unknown).apply(this, args));
    };
    // 1.x's methods were generator functions, which co runs even uncalled
    // (`yield this.regenerateSession`); co recognizes them by constructor name
    // and then adopts the promise this returns
    Object.defineProperty(wrapped, 'constructor', { value: GeneratorFunction, configurable: true, writable: true });
    api[name] = wrapped;
  }
  const store = api.sessionStore;
  if (typeof store === 'object' && store !== null) api.sessionStore = yieldableStore(store);
}

/**
 * The koa v1 form of a modern middleware: a generator function `function*
 * (next)` with the context as `this`. Downstream generators run under co with
 * the context as `this`, as koa v1 itself runs them.
 */
export function koa1Middleware(modern: ModernMiddleware): Koa1Middleware {
  return function* session(this: SessionContext, next: Generator): Generator {
    const ctx = this;
    yield modern(ctx, () => {
      exposeYieldables(ctx);
      return runGenerator.call(ctx, next);
    });
  };
}

/**
 * Copies the middleware's own API (`status`, `sessionStore`, `on`, `off`,
 * `close`) onto `target`. Methods that return the middleware itself (`on`,
 * `off`) return `target` instead, so `app.use(session().on(...))` registers
 * the function Koa can take.
 */
export function copyApi<T extends object>(target: T, modern: object): T {
  for (const key of Reflect.ownKeys(modern)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    const descriptor = Object.getOwnPropertyDescriptor(modern, key) as PropertyDescriptor;
    const value: unknown = descriptor.value;
    if (typeof value === 'function') {
      descriptor.value = function (this: unknown, ...args: unknown[]): unknown {
        const result: unknown = value.apply(modern, args);
        return result === modern ? target : result;
      };
    }
    Object.defineProperty(target, key, descriptor);
  }
  return target;
}

/**
 * Makes one function serve every Koa. koa v2 and v3 call `fn(ctx, next)` and
 * get a promise. koa v1 calls `fn.call(ctx, downstream)` with a generator and
 * delegates to the generator it gets back (`yield* next`); so does
 * koa-convert's `convert()`, in which 1.x apps on koa v2 wrapped their session
 * middleware. koa v1's `app.use` and koa-convert check
 * `fn.constructor.name === 'GeneratorFunction'`, so that is what the function
 * says of itself; koa v2's `app.use` looks at the source text and the
 * prototype instead (is-generator-function), so it neither wraps the function
 * with koa-convert nor prints a deprecation. koa v3 calls any function.
 */
export function dualMiddleware<T extends ModernMiddleware>(modern: T): T {
  const legacy = koa1Middleware(modern);
  const dual = function session(this: unknown, ctxOrNext: unknown, next?: () => Promise<unknown>) {
    if (typeof next !== 'function' && isGeneratorObject(ctxOrNext)) {
      return legacy.call(this as SessionContext, ctxOrNext);
    }
    return modern(ctxOrNext as SessionContext, next as () => Promise<unknown>);
  };
  Object.defineProperty(dual, 'constructor', { value: GeneratorFunction, configurable: true, writable: true });
  return copyApi(dual, modern) as unknown as T;
}
