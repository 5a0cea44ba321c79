import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SessionContext } from './types.js';
import { SessionKeysMissingError } from './errors.js';

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
  readonly #verified = new Set<string>();
  readonly #limit: number;
  #key: string | undefined;

  constructor(name: string, signed: boolean, limit = 10_000) {
    this.#name = name;
    this.#signed = signed;
    this.#pattern = cookiePattern(name);
    this.#sigPattern = cookiePattern(name + '.sig');
    this.#limit = limit;
  }

  read(ctx: SessionContext): string | undefined {
    const header = ctx.req.headers.cookie;
    if (!header) return undefined;
    const match = this.#pattern.exec(header);
    if (match === null) return undefined;
    const value = unquote(match[1] as string);
    if (!this.#signed) return value;

    const keys: unknown = ctx.app.keys;
    if (!hasKeys(keys)) throw new SessionKeysMissingError();
    const key = Array.isArray(keys) ? (keys[0] as unknown) : undefined;
    const sigMatch = this.#sigPattern.exec(header);
    const sig = sigMatch === null ? '' : unquote(sigMatch[1] as string);
    if (typeof key !== 'string' || sig.length !== SHA1_SIGNATURE_LENGTH) {
      return ctx.cookies.get(this.#name, { signed: true });
    }
    if (key !== this.#key) {
      this.#verified.clear();
      this.#key = key;
    }
    // the signature has a fixed length, so signature + value is unambiguous
    const pair = sig + value;
    if (this.#verified.has(pair)) return value;
    const expected = createHmac('sha1', key).update(this.#name + '=' + value).digest('base64url');
    const given = Buffer.from(sig);
    if (given.length === expected.length && timingSafeEqual(Buffer.from(expected), given)) {
      if (this.#verified.size >= this.#limit) {
        const oldest = this.#verified.values().next().value as string;
        this.#verified.delete(oldest);
      }
      this.#verified.add(pair);
      return value;
    }
    // an older key (cookies re-signs) or a forgery (cookies clears the .sig cookie)
    return ctx.cookies.get(this.#name, { signed: true });
  }
}

/** Throws the setup error when signed cookies are written without app.keys. */
export function assertKeys(ctx: SessionContext): void {
  if (!hasKeys(ctx.app.keys)) throw new SessionKeysMissingError();
}

/** `app.keys = []` is missing keys too: keygrip would throw a bare "Keys must be provided." */
function hasKeys(keys: unknown): boolean {
  return Boolean(keys) && !(Array.isArray(keys) && keys.length === 0);
}
