import type { Session } from '../types.js';
import type { ResolvedOptions } from '../options.js';
import type { StoreAdapter } from './adapter.js';
import { sessionTtl, toSession } from '../session.js';

/**
 * What apps see as `ctx.sessionStore`: koa-generic-session's store wrapper,
 * taking un-prefixed session ids and computing the ttl the way a save does.
 */
export class PrefixedStore {
  readonly client: StoreAdapter['client'];
  readonly options: { prefix: string; ttl: ResolvedOptions['ttl'] };
  readonly #adapter: StoreAdapter;

  constructor(adapter: StoreAdapter, options: ResolvedOptions) {
    this.#adapter = adapter;
    this.client = adapter.client;
    this.options = { prefix: options.prefix, ttl: options.ttl };
  }

  async get(sid: string): Promise<Session | null> {
    return toSession(await this.#adapter.get(this.options.prefix + sid));
  }

  async set(sid: string, session: Session): Promise<void> {
    const ttl = sessionTtl(this.options.ttl, session);
    const key = this.options.prefix + sid;
    await (ttl !== undefined && ttl <= 0 ? this.#adapter.destroy(key) : this.#adapter.set(key, session, ttl));
  }

  async destroy(sid: string): Promise<void> {
    await this.#adapter.destroy(this.options.prefix + sid);
  }
}
