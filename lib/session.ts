import type { Session, SessionCookie } from './types.js';

/** The cookie attributes `cookies.set()` understands; anything else in `session.cookie` is ignored. */
export const COOKIE_ATTRIBUTES = [
  'maxAge',
  'expires',
  'path',
  'domain',
  'secure',
  'httpOnly',
  'sameSite',
  'signed',
  'overwrite',
  'priority',
  'partitioned',
] as const;

export type CookieSetOptions = Partial<Record<(typeof COOKIE_ATTRIBUTES)[number], unknown>>;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Keys that turn a later `Object.assign` or deep merge of the session into
 * prototype pollution. JSON.parse itself makes them harmless own properties,
 * so the slow check runs only when the text mentions them at all.
 */
function hasPollutingKey(value: unknown, parentKey: string): boolean {
  if (value === null || typeof value !== 'object') return false;
  for (const key of Object.keys(value)) {
    if (key === '__proto__' || (key === 'prototype' && parentKey === 'constructor')) return true;
    if (hasPollutingKey((value as Record<string, unknown>)[key], key)) return true;
  }
  return false;
}

/**
 * Parses stored JSON into a session, or returns null when it is not a plain
 * object, is not JSON, or carries a prototype-polluting key. Revives
 * `cookie.expires` as a Date.
 */
export function parseSession(json: string): Session | null {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return null;
  }
  if ((json.includes('__proto__') || json.includes('prototype')) && hasPollutingKey(data, '')) return null;
  return toSession(data);
}

/**
 * Validates what a store returned. Third-party stores hand back objects; only
 * their top level and cookie are checked for polluting keys (a deep walk on
 * every request would cost more than the read).
 */
export function toSession(data: unknown): Session | null {
  if (!isPlainObject(data)) return null;
  if (hasOwn.call(data, '__proto__')) return null;
  const cookie = data.cookie;
  if (cookie !== undefined && cookie !== null) {
    if (!isPlainObject(cookie) || hasOwn.call(cookie, '__proto__')) return null;
    const expires = cookie.expires;
    if (typeof expires === 'string' || typeof expires === 'number') {
      const date = new Date(expires);
      if (Number.isNaN(date.getTime())) return null;
      cookie.expires = date;
    }
  }
  return data as Session;
}

/** Copies only the known cookie attributes, so a stored `__proto__` or junk key never reaches `cookies`. */
export function cookieSetOptions(cookie: SessionCookie): CookieSetOptions {
  const options: CookieSetOptions = {};
  for (const name of COOKIE_ATTRIBUTES) {
    const value = cookie[name];
    if (value !== undefined && value !== null) options[name] = value;
  }
  return options;
}

/** connect's `maxage` spelling becomes `maxAge`, as koa-generic-session does on every save. */
export function compatMaxAge(cookie: SessionCookie): void {
  if (!hasOwn.call(cookie, 'maxage')) return;
  if (cookie.maxage) cookie.maxAge = cookie.maxage;
  delete cookie.maxage;
}

/**
 * The store ttl in ms for a session: the `ttl` option (a number, or a function
 * of the session), else `cookie.expires`, else `cookie.maxAge`; undefined when
 * none applies (no expiry).
 */
export function sessionTtl(
  ttlOption: number | ((session: Session) => number | null | undefined) | undefined,
  session: Session,
): number | undefined {
  let ttl: unknown = typeof ttlOption === 'function' ? ttlOption(session) : ttlOption;
  if (ttl === null || ttl === undefined) {
    const cookie = session.cookie;
    if (cookie.expires !== undefined && cookie.expires !== null) {
      ttl = Math.ceil(new Date(cookie.expires).getTime() - Date.now());
    } else if (typeof cookie.maxAge === 'number') {
      ttl = cookie.maxAge;
    } else {
      return undefined;
    }
  }
  if (typeof ttl !== 'number' || Number.isNaN(ttl)) {
    throw new TypeError(
      `session ttl must be a number of ms, got ${typeof ttl === 'number' ? 'NaN' : typeof ttl}: ` +
        'check the ttl option (a function must return a number, null or undefined) and cookie.expires',
    );
  }
  return ttl === Infinity ? undefined : Math.ceil(ttl);
}
