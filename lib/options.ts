import type { Session, SessionCookie, SessionIdStore, SessionOptions, SessionStore } from './types.js';
import { isPlainObject } from './session.js';

/** Options after validation and defaults. */
export interface ResolvedOptions {
  key: string;
  prefix: string;
  store: SessionStore | undefined;
  ttl: number | ((session: Session) => number | null | undefined) | undefined;
  rolling: boolean;
  defer: boolean;
  allowEmpty: boolean;
  genSid: NonNullable<SessionOptions['genSid']> | undefined;
  errorHandler: NonNullable<SessionOptions['errorHandler']> | undefined;
  valid: NonNullable<SessionOptions['valid']> | undefined;
  beforeSave: NonNullable<SessionOptions['beforeSave']> | undefined;
  sessionIdStore: SessionIdStore | undefined;
  cookie: SessionCookie;
  reconnectTimeout: number;
  degraded: boolean;
  merge: boolean;
  owner: NonNullable<SessionOptions['owner']> | undefined;
}

export const DEFAULT_COOKIE: Readonly<SessionCookie> = Object.freeze({
  path: '/',
  httpOnly: true,
  overwrite: true,
  signed: true,
  maxAge: 24 * 60 * 60 * 1000,
});

type Check = (value: unknown) => string | undefined;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}

const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'a boolean');
const fn: Check = (v) => (typeof v === 'function' ? undefined : 'a function');
const string: Check = (v) => (typeof v === 'string' ? undefined : 'a string');
const nonEmptyToken: Check = (v) =>
  typeof v === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(v)
    ? undefined
    : 'a non-empty cookie name (letters, digits and !#$%&\'*+-.^_`|~)';
const ms: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'a finite number of ms, 0 or more';
const positiveMs: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'a finite number of ms above 0';
const ttl: Check = (v) => (typeof v === 'function' ? undefined : ms(v) && 'a finite number of ms, 0 or more, or a function of the session returning ms');
const store: Check = (v) => {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return 'a store object with get, set and destroy methods';
  const missing = (['get', 'set', 'destroy'] as const).filter(
    (m) => typeof (v as Record<string, unknown>)[m] !== 'function',
  );
  return missing.length ? `a store object with get, set and destroy methods (missing: ${missing.join(', ')})` : undefined;
};
const idStore: Check = (v) => {
  if (v === null || typeof v !== 'object') return 'an object with get, set and reset methods';
  const missing = (['get', 'set', 'reset'] as const).filter(
    (m) => typeof (v as Record<string, unknown>)[m] !== 'function',
  );
  return missing.length ? `an object with get, set and reset methods (missing: ${missing.join(', ')})` : undefined;
};

const OPTION_CHECKS: Record<keyof SessionOptions, Check> = {
  key: nonEmptyToken,
  prefix: string,
  store,
  ttl,
  rolling: boolean,
  defer: boolean,
  allowEmpty: boolean,
  genSid: fn,
  errorHandler: fn,
  valid: fn,
  beforeSave: fn,
  sessionIdStore: idStore,
  cookie: (v) => (isPlainObject(v) ? undefined : 'an object of cookie options'),
  reconnectTimeout: positiveMs,
  degraded: boolean,
  merge: boolean,
  owner: fn,
};

const maxAge: Check = (v) => (v === null ? undefined : ms(v) && 'a finite number of ms, 0 or more, or null for a browser-session cookie');
const COOKIE_CHECKS: Record<keyof SessionCookie, Check> = {
  maxAge,
  maxage: maxAge,
  expires: (v) => (v instanceof Date && !Number.isNaN(v.getTime()) ? undefined : 'a valid Date'),
  path: (v) => (typeof v === 'string' && v.startsWith('/') && !/[;\u0000-\u001f\u007f]/.test(v) ? undefined : 'a string starting with "/" without ";" or control characters'),
  domain: (v) => (typeof v === 'string' && /^[A-Za-z0-9.-]+$/.test(v) ? undefined : 'a domain name'),
  secure: boolean,
  httpOnly: boolean,
  sameSite: (v) => (v === true || v === false || v === 'strict' || v === 'lax' || v === 'none' ? undefined : "'strict', 'lax', 'none' or a boolean"),
  signed: boolean,
  overwrite: boolean,
  priority: (v) => (v === 'low' || v === 'medium' || v === 'high' ? undefined : "'low', 'medium' or 'high'"),
  partitioned: boolean,
  rewrite: boolean,
};

function checkAll<T extends object>(
  what: string,
  given: Record<string, unknown>,
  checks: Record<string, Check>,
): void {
  for (const name of Object.keys(given)) {
    const value = given[name];
    // own keys only: "constructor" or "__proto__" must not find Object.prototype's members
    const check = Object.prototype.hasOwnProperty.call(checks, name) ? checks[name] : undefined;
    if (check === undefined) {
      throw new TypeError(
        `session() ${what}: unknown option "${name}"; known options are ${Object.keys(checks).join(', ')}`,
      );
    }
    if (value === undefined) continue;
    const expected = check(value);
    if (expected !== undefined) {
      throw new TypeError(`session() ${what}: option "${name}" must be ${expected}, got ${describe(value)}`);
    }
  }
}

/**
 * Validates `session(options)` and fills in koa-generic-session's defaults.
 * `undefined` and (for top-level options, as `||` did upstream) `null` mean "default".
 */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (input === undefined || input === null) input = {};
  if (!isPlainObject(input)) {
    throw new TypeError(`session() takes an options object, got ${describe(input)}`);
  }
  // no prototype: an own "__proto__" key (JSON.parse makes them) stays a key, and is refused as unknown
  const given: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const name of Object.keys(input)) {
    if (input[name] !== null) given[name] = input[name];
  }
  checkAll('options', given, OPTION_CHECKS);
  const options = given as SessionOptions;

  const cookieInput = (options.cookie ?? {}) as Record<string, unknown>;
  checkAll('cookie', cookieInput, COOKIE_CHECKS);
  const cookie: SessionCookie = {};
  for (const name of Object.keys(cookieInput)) {
    if (cookieInput[name] !== undefined) (cookie as Record<string, unknown>)[name] = cookieInput[name];
  }
  for (const [name, value] of Object.entries(DEFAULT_COOKIE)) {
    if (!(name in cookie)) (cookie as Record<string, unknown>)[name] = value;
  }
  if ('maxage' in cookie) {
    if (cookie.maxage) cookie.maxAge = cookie.maxage;
    delete cookie.maxage;
  }

  return {
    key: options.key ?? 'koa.sid',
    prefix: options.prefix ?? 'koa:sess:',
    store: options.store,
    ttl: options.ttl,
    rolling: options.rolling ?? false,
    defer: options.defer ?? false,
    allowEmpty: options.allowEmpty ?? false,
    genSid: options.genSid,
    errorHandler: options.errorHandler,
    valid: options.valid,
    beforeSave: options.beforeSave,
    sessionIdStore: options.sessionIdStore,
    cookie,
    reconnectTimeout: options.reconnectTimeout ?? 10_000,
    degraded: options.degraded ?? false,
    merge: options.merge ?? true,
    owner: options.owner,
  };
}
