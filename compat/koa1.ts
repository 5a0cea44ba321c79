import co from 'co';

/** co's types only admit generator functions; it runs generator objects too, as koa v1 does. */
const run = co as unknown as (task: Generator) => Promise<unknown>;
import type { SessionContext } from '../lib/types.js';

type ModernMiddleware = (ctx: SessionContext, next: () => Promise<unknown>) => Promise<void>;

const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor as FunctionConstructor;

function isGeneratorObject(value: unknown): value is Generator {
  return Object.prototype.toString.call(value) === '[object Generator]';
}

/**
 * Makes one function serve every Koa: koa v2 and v3 call `fn(ctx, next)` and
 * get a promise; koa v1 calls `fn.call(ctx, nextGenerator)` and delegates to
 * the generator it returns (`yield* next`). koa v1's `app.use` checks
 * `fn.constructor.name === 'GeneratorFunction'`, so that is what the function
 * says of itself; koa v2 looks at the source text and prototype instead, so it
 * neither wraps it with koa-convert nor prints a deprecation.
 */
export function dualMiddleware<T extends ModernMiddleware>(modern: T): T {
  const dual = function session(this: unknown, ctxOrNext: unknown, next?: () => Promise<unknown>) {
    if (next === undefined && isGeneratorObject(ctxOrNext)) {
      return koa1Middleware(modern).call(this as SessionContext, ctxOrNext);
    }
    return modern(ctxOrNext as SessionContext, next as () => Promise<unknown>);
  };
  Object.defineProperty(dual, 'constructor', { value: GeneratorFunction, configurable: true });
  // keep the modern middleware's own API (status, on, close, ...)
  for (const key of Reflect.ownKeys(modern)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    Object.defineProperty(dual, key, Object.getOwnPropertyDescriptor(modern, key) as PropertyDescriptor);
  }
  return dual as unknown as T;
}

/**
 * The koa v1 form: a generator function `function* (next)` with the context
 * as `this`. Downstream generators run under co, as koa v1 itself runs them.
 */
export function koa1Middleware(modern: ModernMiddleware): (this: SessionContext, next: Generator) => Generator {
  return function* session(this: SessionContext, next: Generator): Generator {
    yield modern(this, () => run(next));
  };
}
