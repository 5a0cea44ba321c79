import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SessionContext } from './types.js';
import { checkKeys } from './keys.js';

/** keygrip's default (HMAC-SHA1, base64url) is 27 characters long. */
const SHA1_SIGNATURE_LENGTH = 27;
const REGEXP_ESCAPE = /[\^$\\.*+?()[\]{}|]/g;

function cookiePattern(name: string): RegExp {
  // the same pattern as the `cookies` module, so both read the same value
  return new RegExp('(?:^|;) *' + name.replace(REGEXP_ESCAPE, '\\$&') + '=([^;]*)');
}

function unquote(value: string): string {
  return value.charCodeAt(0) === 34 ? value.slice(1, -1) : value;
}

/**
 * Where `read()` leaves the signature it verified under `app.keys[0]`, so
 * that writing the same id back (`rolling`, a changed session) needs no HMAC:
 * the signature of `name=value` under one key never changes.
 */
export interface VerifiedSignature {
  signedValue: string | undefined;
  signature: string | undefined;
  signatureKey: string | undefined;
  /**
   * Set when the cookie was signed with an older key: `signature` is then the
   * one under the current key, and the `.sig` cookie has to be written again
   * with the session cookie's attributes (see `read()`).
   */
  resign?: boolean;
}

/** What `cookies` keeps in `ctx.cookies.keys`: a Keygrip made from `app.keys` (or the app's own Keygrip). */
interface KeygripLike {
  index(data: string, digest: string): number;
  sign(data: string): string;
}

function isKeygrip(value: unknown): value is KeygripLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as KeygripLike).index === 'function' &&
    typeof (value as KeygripLike).sign === 'function'
  );
}

/**
 * Remembers up to `limit` strings and forgets in bulk: when the young set is
 * half full it becomes the old one and the previous old one is dropped.
 * Evicting one entry at a time (`set.delete(set.values().next().value)`)
 * costs O(deleted slots) in V8, which sit at the front of the table: about
 * 10 µs per insert once the cache churns (more live sessions than `limit`).
 */
class Generations {
  #young = new Set<string>();
  #old = new Set<string>();
  readonly #half: number;
  constructor(limit: number) {
    this.#half = Math.max(1, Math.floor(limit / 2));
  }
  has(item: string): boolean {
    return this.#young.has(item) || this.#old.has(item);
  }
  add(item: string): void {
    if (this.#young.size >= this.#half) {
      this.#old = this.#young;
      this.#young = new Set();
    }
    this.#young.add(item);
  }
  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }
}

/**
 * Reads the session id cookie the way `ctx.cookies.get(name, { signed })` does,
 * with the same result and the same Set-Cookie side effects, but remembers
 * (value, signature) pairs it has verified against `app.keys[0]`: one HMAC
 * costs more than the whole session read otherwise. The cache is bounded and
 * emptied when the first key changes. Anything unusual (a Keygrip instance,
 * an older key, a bad signature) goes through `ctx.cookies` itself.
 */
export class SessionCookieReader {
  readonly #name: string;
  readonly #signed: boolean;
  readonly #pattern: RegExp;
  readonly #sigPattern: RegExp;
  readonly #verified: Generations;
  #key: string | undefined;

  constructor(name: string, signed: boolean, limit = 10_000) {
    this.#name = name;
    this.#signed = signed;
    this.#pattern = cookiePattern(name);
    this.#sigPattern = cookiePattern(name + '.sig');
    this.#verified = new Generations(limit);
  }

  read(ctx: SessionContext, seen?: VerifiedSignature): string | undefined {
    const header = ctx.req.headers.cookie;
    if (!header) return undefined;
    const match = this.#pattern.exec(header);
    if (match === null) return undefined;
    const value = unquote(match[1] as string);
    if (!this.#signed) return value;

    const keys: unknown = ctx.app.keys;
    checkKeys(keys);
    const key = Array.isArray(keys) ? (keys[0] as unknown) : undefined;
    const sigMatch = this.#sigPattern.exec(header);
    const sig = sigMatch === null ? '' : unquote(sigMatch[1] as string);
    if (typeof key !== 'string' || sig.length !== SHA1_SIGNATURE_LENGTH) return this.#verifyOther(ctx, value, sig, seen);
    if (key !== this.#key) {
      this.#verified.clear();
      this.#key = key;
    }
    // the signature has a fixed length, so signature + value is unambiguous
    const pair = sig + value;
    let verified = this.#verified.has(pair);
    if (!verified) {
      const expected = createHmac('sha1', key).update(this.#name + '=' + value).digest('base64url');
      const given = Buffer.from(sig);
      verified = given.length === expected.length && timingSafeEqual(Buffer.from(expected), given);
      if (verified) this.#verified.add(pair);
    }
    if (verified) {
      if (seen !== undefined) {
        seen.signedValue = value;
        seen.signature = sig;
        seen.signatureKey = key;
      }
      return value;
    }
    return this.#verifyOther(ctx, value, sig, seen);
  }

  /**
   * A signature that is not app.keys[0]'s: an older key, a Keygrip instance
   * as app.keys, or a forgery. `cookies.get()` would re-sign an older key's
   * cookie by writing a bare `.sig` cookie (path=/, no expiry, no sameSite):
   * a browser drops it on restart while the session cookie lives on, and the
   * user is signed out. So the check goes through the same Keygrip, and the
   * middleware writes the new `.sig` with the session cookie's attributes
   * once the session is loaded (`seen.resign`).
   */
  #verifyOther(ctx: SessionContext, value: string, sig: string, seen: VerifiedSignature | undefined): string | undefined {
    const grip: unknown = (ctx.cookies as { keys?: unknown }).keys;
    if (seen === undefined || sig === '' || !isKeygrip(grip)) return ctx.cookies.get(this.#name, { signed: true });
    const data = this.#name + '=' + value;
    const index = grip.index(data, sig);
    if (index < 0) {
      // a forgery: cleared exactly as cookies does
      ctx.cookies.set(this.#name + '.sig', null, { path: '/', signed: false });
      return undefined;
    }
    if (index > 0) {
      const keys: unknown = ctx.app.keys;
      const first: unknown = Array.isArray(keys) ? keys[0] : undefined;
      seen.signedValue = value;
      seen.signature = grip.sign(data);
      seen.signatureKey = typeof first === 'string' ? first : undefined;
      seen.resign = true;
    }
    return value;
  }

  /**
   * keygrip's signature of `name=value` under `app.keys[0]` (HMAC-SHA1,
   * base64url), or undefined when `app.keys` is not an array of strings.
   */
  sign(ctx: SessionContext, value: string): string | undefined {
    const keys: unknown = ctx.app.keys;
    const key = Array.isArray(keys) ? (keys[0] as unknown) : undefined;
    if (typeof key !== 'string') return undefined;
    return createHmac('sha1', key).update(this.#name + '=' + value).digest('base64url');
  }

  /** The signature `read()` verified for `value`, if `app.keys[0]` is still the key it was verified with. */
  knownSignature(ctx: SessionContext, value: string, seen: VerifiedSignature): string | undefined {
    if (seen.signedValue !== value || seen.signature === undefined) return undefined;
    const keys: unknown = ctx.app.keys;
    return Array.isArray(keys) && keys[0] === seen.signatureKey ? seen.signature : undefined;
  }
}

/** Throws the setup error when signed cookies are written without usable app.keys. */
export function assertKeys(ctx: SessionContext): void {
  checkKeys(ctx.app.keys);
}

/* ---- writing: what cookies@0.9 `set()` writes, without its per-call objects ---- */

// the `cookies` module's own checks; where one fails, cookies.set() is left to throw its error
const FIELD_CONTENT = /^[\u0009\u0020-\u007e\u0080-\u00ff]+$/;
const PATH_VALUE = /^[ -:=-~]*$/;
const DOMAIN_VALUE = /^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const SAME_SITE = /^(?:lax|none|strict)$/i;
const PRIORITY = /^(?:low|medium|high)$/i;

/** The options `cookieSetOptions()` passes on (each present one is neither null nor undefined). */
export interface SessionCookieOptions {
  maxAge?: unknown;
  expires?: unknown;
  path?: unknown;
  domain?: unknown;
  secure?: unknown;
  httpOnly?: unknown;
  sameSite?: unknown;
  signed?: unknown;
  overwrite?: unknown;
  priority?: unknown;
  partitioned?: unknown;
  secureProxy?: unknown;
}

interface CookieJar {
  secure?: unknown;
  request?: unknown;
  response?: unknown;
  set?: unknown;
}

let expiresCache = { at: NaN, text: '' };

/** `new Date(ms).toUTCString()`, remembered for the current second (the text has 1 s resolution). */
function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== expiresCache.at) expiresCache = { at: second, text: new Date(second * 1000).toUTCString() };
  return expiresCache.text;
}

/**
 * The `; attr` part of the Set-Cookie header `cookies` writes for these
 * options (same attributes, same order as Cookie#toHeader), or undefined
 * when cookies.set() would throw or the options hold something unusual.
 */
function cookieAttributes(options: SessionCookieOptions, secureRequest: boolean): string | undefined {
  const { maxAge, path = '/', domain, priority, sameSite, partitioned } = options;
  // cookies' own deprecation notice, and its override of the secure rule, stay with cookies
  if (options.secureProxy !== undefined) return undefined;
  let expires = options.expires;
  if (typeof maxAge === 'number') {
    if (!Number.isFinite(maxAge)) return undefined;
  } else if (maxAge !== undefined) {
    return undefined;
  }
  const secure = options.secure === undefined ? secureRequest : options.secure;
  if (options.secure === true && !secureRequest) return undefined;
  let text = '';
  if (path) {
    if (typeof path !== 'string' || !PATH_VALUE.test(path)) return undefined;
    text += '; path=' + path;
  }
  if (maxAge) {
    text += '; expires=' + httpDate(Date.now() + (maxAge as number));
  } else if (expires) {
    if (!(expires instanceof Date)) return undefined;
    text += '; expires=' + expires.toUTCString();
  }
  if (domain) {
    if (typeof domain !== 'string' || !DOMAIN_VALUE.test(domain)) return undefined;
    text += '; domain=' + domain;
  }
  if (priority) {
    if (typeof priority !== 'string' || !PRIORITY.test(priority)) return undefined;
    text += '; priority=' + priority.toLowerCase();
  }
  if (sameSite) {
    if (sameSite === true) text += '; samesite=strict';
    else if (typeof sameSite === 'string' && SAME_SITE.test(sameSite)) text += '; samesite=' + sameSite.toLowerCase();
    else return undefined;
  }
  if (secure) text += '; secure';
  if (options.httpOnly === undefined || options.httpOnly) text += '; httponly';
  if (partitioned) text += '; partitioned';
  return text;
}

/** cookies' pushCookie(): with overwrite, earlier headers for the same name go first. */
function pushCookie(headers: string[], name: string, header: string, overwrite: boolean): void {
  if (overwrite) {
    const prefix = name + '=';
    for (let i = headers.length - 1; i >= 0; i--) {
      if ((headers[i] as string).startsWith(prefix)) headers.splice(i, 1);
    }
  }
  headers.push(header);
}

/**
 * Sets the session cookie, and its `.sig` cookie when `signature` is given,
 * exactly as `ctx.cookies.set(name, value, { ...options, signed })` would:
 * same headers, same secure rule (the jar's `secure`, which Koa sets from
 * `ctx.request.secure`), same overwrite. It builds the two header strings
 * directly instead of two Cookie objects, their checks and a second date.
 * Returns false, having written nothing, whenever `cookies` has to decide
 * (a customised `ctx.cookies`, an option it would reject): the caller then
 * calls `ctx.cookies.set()` itself.
 */
export function setSessionCookie(
  ctx: SessionContext,
  name: string,
  value: string,
  signature: string | undefined,
  options: SessionCookieOptions,
): boolean {
  const jar = ctx.cookies as unknown as CookieJar;
  const res = ctx.res;
  if (jar === null || typeof jar !== 'object' || jar.request !== ctx.req || jar.response !== res) return false;
  if (typeof jar.secure !== 'boolean') return false;
  if (!FIELD_CONTENT.test(value) || value.includes(';')) return false;
  const attributes = cookieAttributes(options, jar.secure);
  if (attributes === undefined) return false;
  const current = res.getHeader('Set-Cookie');
  const headers = current === undefined ? [] : typeof current === 'string' ? [current] : [...(current as string[])];
  const overwrite = Boolean(options.overwrite);
  pushCookie(headers, name, name + '=' + value + attributes, overwrite);
  if (signature !== undefined) pushCookie(headers, name + '.sig', name + '.sig=' + signature + attributes, overwrite);
  res.setHeader('Set-Cookie', headers);
  return true;
}
