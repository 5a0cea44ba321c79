import type { Session, SessionCookie, SessionPatch } from './types.js';
import { stringEnd, valueEnd } from './json-text.js';

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
  if (!isPlainObject(data) || hasPollutingOwnKey(data)) return null;
  const cookie = data.cookie;
  if (cookie !== undefined && cookie !== null) {
    if (!isPlainObject(cookie) || hasPollutingOwnKey(cookie)) return null;
    const expires = cookie.expires;
    if (typeof expires === 'string' || typeof expires === 'number') {
      const date = new Date(expires);
      if (Number.isNaN(date.getTime())) return null;
      cookie.expires = date;
    }
    if (!storedCookieIsValid(cookie)) return null;
  }
  return data as Session;
}

/** An own `__proto__`, or a `constructor` holding a `prototype`: what a later merge turns into pollution. */
function hasPollutingOwnKey(value: Record<string, unknown>): boolean {
  if (hasOwn.call(value, '__proto__')) return true;
  const ctor = hasOwn.call(value, 'constructor') ? value.constructor : undefined;
  return ctor !== null && typeof ctor === 'object' && hasOwn.call(ctor, 'prototype');
}

// the values `cookies.set()` accepts (cookies 0.9 index.js); anything else would make it throw on the
// next save, a 500 on every request of that user until the session expires
const COOKIE_PATH = /^[ -:=-~]*$/;
const COOKIE_DOMAIN = /^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const COOKIE_BOOLEANS = ['secure', 'httpOnly', 'signed', 'overwrite', 'partitioned'] as const;

/** Whether a stored `session.cookie`'s known attributes are values `cookies.set()` takes (null means unset). */
function storedCookieIsValid(cookie: Record<string, unknown>): boolean {
  const { maxAge, maxage, expires, path, domain, sameSite, priority } = cookie;
  for (const ms of [maxAge, maxage]) {
    if (ms != null && !(typeof ms === 'number' && Number.isFinite(ms))) return false;
  }
  if (expires != null && !(expires instanceof Date && !Number.isNaN(expires.getTime()))) return false;
  if (path != null && !(typeof path === 'string' && COOKIE_PATH.test(path))) return false;
  if (domain != null && !(typeof domain === 'string' && COOKIE_DOMAIN.test(domain))) return false;
  if (sameSite != null && typeof sameSite !== 'boolean' && !(typeof sameSite === 'string' && /^(?:lax|none|strict)$/i.test(sameSite))) {
    return false;
  }
  if (priority != null && !(typeof priority === 'string' && /^(?:low|medium|high)$/i.test(priority))) return false;
  return COOKIE_BOOLEANS.every((name) => cookie[name] == null || typeof cookie[name] === 'boolean');
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

/** Whether JSON.stringify keeps a property with this value (it drops undefined, functions and symbols). */
function serializable(value: unknown): boolean {
  return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol';
}

/**
 * The top-level members of a JSON object text, as name -> value text, in
 * order. Only for JSON that JSON.stringify wrote (or JSON.parse accepts):
 * strings are skipped whole and brackets counted, nothing is decoded but
 * names written with escapes.
 */
export function jsonMembers(text: string): Map<string, string> {
  const members = new Map<string, string>();
  let i = 1;
  if (text.charCodeAt(i) === 125) return members;
  for (;;) {
    const nameEnd = stringEnd(text, i);
    const raw = text.slice(i + 1, nameEnd);
    const name = raw.includes('\\') ? (JSON.parse(text.slice(i, nameEnd + 1)) as string) : raw;
    const start = nameEnd + 2;
    const end = valueEnd(text, start);
    members.set(name, text.slice(start, end + 1));
    if (text.charCodeAt(end + 1) !== 44) return members;
    i = end + 2;
  }
}

/**
 * The top-level keys a request set, changed or deleted: the members of the
 * session's JSON now (`json`, JSON.stringify(session) by default) compared
 * with those of the JSON it was loaded from, text to text. With `all`, every
 * present key is set (a forced save), and deletions still count.
 */
export function diffSession(originalJson: string, session: Session, all: boolean, json = JSON.stringify(session)): SessionPatch {
  const before = jsonMembers(originalJson);
  const set = Object.create(null) as Record<string, unknown>;
  const unset: string[] = [];
  const after = jsonMembers(json);
  for (const [name, text] of after) {
    if (all || before.get(name) !== text) set[name] = (session as Record<string, unknown>)[name];
  }
  for (const name of before.keys()) if (!after.has(name)) unset.push(name);
  return { set, unset };
}

/** Applies a patch to a plain object in place; `__proto__` and friends stay ordinary keys. */
export function applyPatch(target: Record<string, unknown>, patch: SessionPatch): void {
  for (const key of Object.keys(patch.set)) {
    Object.defineProperty(target, key, { value: patch.set[key], enumerable: true, writable: true, configurable: true });
  }
  for (const key of patch.unset) delete target[key];
}
