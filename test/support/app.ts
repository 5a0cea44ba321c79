import Koa from 'koa';
import type { Middleware } from 'koa';
import request from 'supertest';
import session, { MemoryStore, type SessionOptions } from '../../lib/index.js';

export { MemoryStore };

/** A Koa app with app.keys, the session middleware, then `handler`. */
export function app(options: SessionOptions = {}, handler?: Middleware): Koa {
  const koa = new Koa();
  koa.keys = ['test key one', 'test key two'];
  koa.silent = true;
  koa.use(session(options));
  if (handler) koa.use(handler);
  return koa;
}

/** A supertest agent that keeps cookies between requests. */
export function agent(koa: Koa): ReturnType<typeof request.agent> {
  return request.agent(koa.callback());
}

/** The Set-Cookie headers of a response, as an array. */
export function setCookies(res: { headers: Record<string, unknown> }): string[] {
  const value = res.headers['set-cookie'];
  return Array.isArray(value) ? (value as string[]) : value === undefined ? [] : [String(value)];
}

/** The value of cookie `name` in a response's Set-Cookie headers, or undefined. */
export function cookieValue(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  for (const line of setCookies(res)) {
    const [pair] = line.split(';');
    const eq = (pair as string).indexOf('=');
    if ((pair as string).slice(0, eq) === name) return (pair as string).slice(eq + 1);
  }
  return undefined;
}
