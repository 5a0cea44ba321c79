import { createHash, createHmac } from 'node:crypto';
import type { HashIdsOptions } from './types.js';

/**
 * How a session id becomes its store key: `prefix + id`, or with `hashIds`
 * `prefix + base64url(SHA-256(id))` (HMAC-SHA256 with `secret`). A leaked
 * store then holds no id a client could send back as a cookie.
 */
export class SessionKeys {
  readonly prefix: string;
  readonly hashed: boolean;
  /** `hashIds: { migrate: true }`: sessions may still be under their raw key. */
  readonly migrate: boolean;
  readonly #secret: string | undefined;

  constructor(prefix: string, hashIds: boolean | HashIdsOptions | undefined) {
    this.prefix = prefix;
    this.hashed = hashIds !== undefined && hashIds !== false;
    const options = typeof hashIds === 'object' ? hashIds : {};
    this.migrate = this.hashed && options.migrate === true;
    this.#secret = options.secret;
  }

  /** The store key of a session id. */
  key(sid: string): string {
    if (!this.hashed) return this.prefix + sid;
    const hash = this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
    return this.prefix + hash.update(sid).digest('base64url');
  }

  /** The key the session had before `hashIds` was on. */
  raw(sid: string): string {
    return this.prefix + sid;
  }
}
