import { SessionKeysInvalidError, SessionKeysMissingError } from './errors.js';

/** What `ctx.app.keys` can sign with: keygrip's own `sign`, `verify` and `index`. */
function isKeygrip(keys: object): boolean {
  const k = keys as Record<string, unknown>;
  return typeof k.sign === 'function' && typeof k.verify === 'function' && typeof k.index === 'function';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : typeof value;
}

/**
 * Why `keys` cannot sign a cookie, or undefined when it can (an array of
 * non-empty strings or Buffers, or a Keygrip). The secret itself is never
 * quoted. Missing keys (unset, `[]`) are not a problem here: see `checkKeys`.
 */
function keysProblem(keys: unknown): string | undefined {
  if (Array.isArray(keys)) {
    for (let i = 0; i < keys.length; i++) {
      const key: unknown = keys[i];
      if (typeof key === 'string') {
        if (key.length === 0) return `app.keys[${i}] is an empty string`;
      } else if (ArrayBuffer.isView(key)) {
        // keygrip (through crypto.createHmac) signs with Buffer keys too, and koa-generic-session apps may use them
        if (key.byteLength === 0) return `app.keys[${i}] is empty`;
      } else {
        return `app.keys[${i}] is ${describe(key)}, not a string`;
      }
    }
    return undefined;
  }
  if (keys !== null && typeof keys === 'object' && isKeygrip(keys)) return undefined;
  return `app.keys is ${describe(keys)}, not an array`;
}

/** As `cookies` sees it (`if (options.keys)`), plus `[]`, on which keygrip would throw a bare "Keys must be provided." */
function isMissing(keys: unknown): boolean {
  return !keys || (Array.isArray(keys) && keys.length === 0);
}

/**
 * Throws unless `keys` can sign a cookie: `SessionKeysMissingError` when none
 * are set, `SessionKeysInvalidError` when they are set but unusable (the
 * `cookies` module would throw "this.keys.sign is not a function", or sign
 * with an empty secret). With `required: false` (a cookie that cookies signs
 * only when keys exist) missing keys are fine, unusable ones are not.
 */
export function checkKeys(keys: unknown, required = true): void {
  if (isMissing(keys)) {
    if (required) throw new SessionKeysMissingError();
    return;
  }
  const problem = keysProblem(keys);
  if (problem !== undefined) throw new SessionKeysInvalidError(problem);
}
