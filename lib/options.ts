import type { HashIdsOptions, Session, SessionCookie, SessionIdStore, SessionOptions, SessionStore } from './types.js';
import { isPlainObject } from './session.js';
import { closest, sameName } from './near-miss.js';
import { warnOnce } from './warnings.js';

/** Options after validation and defaults. */
export interface ResolvedOptions {
  key: string;
  prefix: string;
  store: SessionStore | undefined;
  ttl: number | ((session: Session) => number | null | undefined) | undefined;
  rolling: boolean;
  /** `rolling: { renewAfter }`: ms; undefined for `rolling: true` (every request extends). */
  renewAfter: number | undefined;
  absoluteTimeout: number | undefined;
  hashIds: false | HashIdsOptions;
  defer: boolean;
  allowEmpty: boolean;
  genSid: NonNullable<SessionOptions['genSid']> | undefined;
  errorHandler: NonNullable<SessionOptions['errorHandler']> | undefined;
  valid: NonNullable<SessionOptions['valid']> | undefined;
  beforeSave: NonNullable<SessionOptions['beforeSave']> | undefined;
  sessionIdStore: SessionIdStore | undefined;
  cookie: SessionCookie;
  reconnectTimeout: number;
  storeTimeout: number;
  degraded: boolean;
  merge: boolean;
  owner: NonNullable<SessionOptions['owner']> | undefined;
  handleKey: string | undefined;
  describe: NonNullable<SessionOptions['describe']> | undefined;
  maxSessionsPerOwner: number | undefined;
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
// What the `cookies` module (0.9) can set as a name, and so what koa-generic-session could use:
// RFC 7230 field-content without ";" or "=". `name + ".sig"` then passes too.
const COOKIE_NAME = /^[\u0009\u0020-\u007e\u0080-\u00ff]+$/;
const cookieName: Check = (v) =>
  typeof v === 'string' && COOKIE_NAME.test(v) && !/[;=]/.test(v)
    ? undefined
    : 'a cookie name the cookies module can set (1 or more of tab, space, visible ASCII except ";" and "=", or \\u0080-\\u00ff)';
const ms: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'a finite number of ms, 0 or more';
const positiveMs: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'a finite number of ms above 0';
const ttl: Check = (v) => (typeof v === 'function' ? undefined : ms(v) && 'a finite number of ms, 0 or more, or a function of the session returning ms');
const rolling: Check = (v) => {
  if (typeof v === 'boolean') return undefined;
  const expected = 'a boolean, or { renewAfter: ms } (a finite number of ms above 0)';
  if (!isPlainObject(v)) return expected;
  const extra = Object.keys(v).filter((name) => name !== 'renewAfter');
  if (extra.length > 0) return `${expected}; unknown key${extra.length > 1 ? 's' : ''} ${extra.map((n) => JSON.stringify(n)).join(', ')}`;
  return positiveMs(v.renewAfter) === undefined ? undefined : `${expected}; renewAfter is ${describe(v.renewAfter)}`;
};
const hashIds: Check = (v) => {
  if (typeof v === 'boolean') return undefined;
  const expected = 'a boolean, or { secret?: string, migrate?: boolean }';
  if (!isPlainObject(v)) return expected;
  const extra = Object.keys(v).filter((name) => name !== 'secret' && name !== 'migrate');
  if (extra.length > 0) return `${expected}; unknown key${extra.length > 1 ? 's' : ''} ${extra.map((n) => JSON.stringify(n)).join(', ')}`;
  if (v.secret !== undefined && !(typeof v.secret === 'string' && v.secret !== '')) {
    return `${expected}; secret must be a non-empty string, and is ${describe(v.secret)}`;
  }
  if (v.migrate !== undefined && typeof v.migrate !== 'boolean') return `${expected}; migrate is ${describe(v.migrate)}`;
  return undefined;
};
const store: Check = (v) =>
  v !== null && (typeof v === 'object' || typeof v === 'function') ? undefined : 'a store object with get, set and destroy methods';

/**
 * A store object without get, set or destroy is accepted, as koa-generic-session
 * accepted it (an event emitter standing in for a store in tests, a store whose
 * methods are attached later): the requests that need a missing method fail
 * through `errorHandler`, as they did there. The setup only warns.
 */
function checkStoreMethods(value: unknown): void {
  if (value === undefined) return;
  const missing = (['get', 'set', 'destroy'] as const).filter(
    (m) => typeof (value as Record<string, unknown>)[m] !== 'function',
  );
  if (missing.length === 0) return;
  warnOnce(
    'KGS_INCOMPLETE_STORE',
    missing.join(','),
    `session() option "store" has no ${missing.join(', ')} method${missing.length > 1 ? 's' : ''}: ` +
      'every request that needs one will fail; a store needs get, set and destroy',
  );
}

const idStore: Check = (v) => {
  if (v === null || typeof v !== 'object') return 'an object with get, set and reset methods';
  const missing = (['get', 'set', 'reset'] as const).filter(
    (m) => typeof (v as Record<string, unknown>)[m] !== 'function',
  );
  return missing.length ? `an object with get, set and reset methods (missing: ${missing.join(', ')})` : undefined;
};

const OPTION_CHECKS: Record<keyof SessionOptions, Check> = {
  key: cookieName,
  prefix: string,
  store,
  ttl,
  rolling,
  defer: boolean,
  allowEmpty: boolean,
  genSid: fn,
  errorHandler: fn,
  valid: fn,
  beforeSave: fn,
  sessionIdStore: idStore,
  cookie: (v) => (isPlainObject(v) ? undefined : 'an object of cookie options'),
  reconnectTimeout: positiveMs,
  storeTimeout: positiveMs,
  degraded: boolean,
  merge: boolean,
  owner: fn,
  absoluteTimeout: positiveMs,
  hashIds,
  handleKey: (v) => (typeof v === 'string' && v.length > 0 ? undefined : 'a non-empty string (a secret shared by every process of the app)'),
  describe: fn,
  maxSessionsPerOwner: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? undefined : 'a whole number, 1 or more'),
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
  secureProxy: boolean,
};

function checkAll(what: 'options' | 'cookie', given: Record<string, unknown>, checks: Record<string, Check>): void {
  for (const name of Object.keys(given)) {
    const value = given[name];
    // own keys only: "constructor" or "__proto__" must not find Object.prototype's members
    const check = Object.prototype.hasOwnProperty.call(checks, name) ? checks[name] : undefined;
    if (check === undefined) {
      warnUnknown(what, name);
      continue;
    }
    if (value === undefined) continue;
    const expected = check(value);
    if (expected !== undefined) {
      throw new TypeError(`session() ${what}: option "${name}" must be ${expected}, got ${describe(value)}`);
    }
  }
}

/**
 * An option this package does not know is ignored with a warning, as
 * koa-generic-session ignored it (and passed unknown cookie options on to
 * `cookies`, which ignores them too): apps share one options object between
 * middlewares (`secret`, `resave`), and refusing to start over one would
 * break them. TypeScript still rejects unknown keys at compile time.
 */
function warnUnknown(what: 'options' | 'cookie', name: string): void {
  const label = what === 'cookie' ? `cookie option "${name}"` : `option "${name}"`;
  const guess = suggestion(what, name);
  const known = Object.keys(what === 'cookie' ? COOKIE_CHECKS : OPTION_CHECKS).join(', ');
  warnOnce(
    'KGS_UNKNOWN_OPTION',
    `${what}.${name}`,
    `session(): unknown ${label} is ignored; ` +
      (guess === undefined ? `known ${what === 'cookie' ? 'cookie options' : 'options'}: ${known}` : `did you mean ${guess}?`),
  );
}

/** Names other session middlewares give an option of this one. */
const ALIASES: Record<string, string> = {
  name: '"key"',
  genid: '"genSid"',
  saveUninitialized: '"allowEmpty"',
  keys: '"app.keys" (signing keys are set on the Koa app)',
};

/**
 * A near miss of a known option: the same name in another case or with
 * underscores, one or two typos (fewer for short names), a cookie option
 * given at the top level (koa-session's `maxAge`) or the reverse, or another
 * middleware's name for the same thing.
 */
function suggestion(what: 'options' | 'cookie', name: string): string | undefined {
  const own = Object.keys(what === 'cookie' ? COOKIE_CHECKS : OPTION_CHECKS);
  const other = Object.keys(what === 'cookie' ? OPTION_CHECKS : COOKIE_CHECKS);
  const same = sameName(name, own);
  if (same !== undefined) return `"${same}"`;
  const across = sameName(name, other);
  if (across !== undefined) return what === 'cookie' ? `the top-level option "${across}"` : `"cookie.${across}"`;
  if (what === 'options' && Object.prototype.hasOwnProperty.call(ALIASES, name)) return ALIASES[name];
  const near = closest(name, own);
  return near === undefined ? undefined : `"${near}"`;
}

/**
 * Browsers drop a `__Secure-` cookie set without Secure, and a `__Host-`
 * cookie set without Secure, with a Domain or with a Path other than "/"
 * (matching the prefix in any case: RFC 6265bis). A configuration that can
 * never satisfy them would lose every session without a word, so it is
 * refused at setup. `secure` left unset is accepted: `cookies` then marks the
 * cookie Secure on every request Koa sees as https, which is how such apps
 * ran on koa-generic-session.
 */
function checkNamePrefix(key: string, cookie: SessionCookie): void {
  const lower = key.toLowerCase();
  const host = lower.startsWith('__host-');
  if (!host && !lower.startsWith('__secure-')) return;
  const prefix = key.slice(0, host ? 7 : 9);
  const fixes: string[] = [];
  const secure = cookie.secureProxy ?? cookie.secure;
  if (secure === false) fixes.push('set cookie.secure to true (or leave it unset: cookies then marks it Secure on https requests)');
  if (host && cookie.path !== '/') fixes.push("set cookie.path to '/'");
  if (host && cookie.domain !== undefined) fixes.push('remove cookie.domain');
  if (fixes.length === 0) return;
  const rule = host ? 'Secure, with Path=/ and no Domain' : 'Secure';
  throw new TypeError(
    `session() options: option "key" is ${JSON.stringify(key)}, and browsers ignore a "${prefix}" cookie unless it is ${rule}: ` +
      `${fixes.join(', ')}`,
  );
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
  checkStoreMethods(options.store);

  const cookieInput = (options.cookie ?? {}) as Record<string, unknown>;
  checkAll('cookie', cookieInput, COOKIE_CHECKS);
  const cookie: SessionCookie = {};
  // known names only: unknown ones were warned about, and an own "__proto__" must not become a prototype
  for (const name of Object.keys(cookieInput)) {
    if (cookieInput[name] !== undefined && Object.prototype.hasOwnProperty.call(COOKIE_CHECKS, name)) {
      (cookie as Record<string, unknown>)[name] = cookieInput[name];
    }
  }
  for (const [name, value] of Object.entries(DEFAULT_COOKIE)) {
    if (!(name in cookie)) (cookie as Record<string, unknown>)[name] = value;
  }
  if ('maxage' in cookie) {
    if (cookie.maxage) cookie.maxAge = cookie.maxage;
    delete cookie.maxage;
  }

  const key = options.key ?? 'koa.sid';
  checkNamePrefix(key, cookie);
  for (const name of ['describe', 'maxSessionsPerOwner'] as const) {
    if (options[name] !== undefined && options.owner === undefined) {
      throw new TypeError(
        `session() options: option "${name}" works on the owner index: pass "owner" too, a function of the session returning its owner (e.g. the user id)`,
      );
    }
  }

  return {
    key,
    prefix: options.prefix ?? 'koa:sess:',
    store: options.store,
    ttl: options.ttl,
    rolling: options.rolling !== undefined && options.rolling !== false,
    renewAfter: typeof options.rolling === 'object' ? options.rolling.renewAfter : undefined,
    absoluteTimeout: options.absoluteTimeout,
    hashIds: options.hashIds === true ? {} : options.hashIds === undefined || options.hashIds === false ? false : { ...options.hashIds },
    defer: options.defer ?? false,
    allowEmpty: options.allowEmpty ?? false,
    genSid: options.genSid,
    errorHandler: options.errorHandler,
    valid: options.valid,
    beforeSave: options.beforeSave,
    sessionIdStore: options.sessionIdStore,
    cookie,
    reconnectTimeout: options.reconnectTimeout ?? 10_000,
    storeTimeout: options.storeTimeout ?? 10_000,
    degraded: options.degraded ?? false,
    merge: options.merge ?? true,
    owner: options.owner,
    handleKey: options.handleKey,
    describe: options.describe,
    maxSessionsPerOwner: options.maxSessionsPerOwner,
  };
}
