import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { SessionContext, StoreStatus } from './types.js';

/**
 * The key handles are computed with when the app sets no `handleKey`: public,
 * so such handles are plain (domain-separated) hashes of the store key, which
 * cannot be reversed for the default 144-bit random ids.
 */
const PUBLIC_HANDLE_KEY = 'koa-generic-session-ts handle';

/**
 * A session's handle: an HMAC-SHA256 of its store key (`prefix + id`, or
 * the hashed id with `hashIds`), never the id, which is a credential. The
 * same function serves `listSessions()` and the events, so an audit line and
 * a devices page name a session alike, in every process that shares
 * `handleKey`, `prefix` and `hashIds`.
 */
export function handleOf(key: string, handleKey: string | undefined): string {
  return createHmac('sha256', handleKey ?? PUBLIC_HANDLE_KEY)
    .update(key)
    .digest('base64url')
    .slice(0, 22);
}

/** What ended a session, as the `destroyed` event tells it. */
export type DestroyCause = 'logout' | 'destroySession' | 'destroySessions' | 'limit' | 'ttl' | 'absoluteTimeout';

/** Why a request's cookie named a session that is over, as the `expired` event tells it. */
export type ExpiredReason = 'missing' | 'expires' | 'absoluteTimeout';

/** What every session event carries: never the session id. */
export interface SessionEventBase {
  /** The session's handle, as `listSessions()` shows it. */
  handle: string;
  /** The session's owner (the `owner` option's value) when the middleware knows it. */
  owner: string | undefined;
  /** The request it happened in; undefined for the owner API called outside a request. */
  ctx: SessionContext | undefined;
}

/** `created`: a new session was saved for the first time. */
export interface SessionCreatedEvent extends SessionEventBase {
  ctx: SessionContext;
}

/** `regenerated`: `ctx.regenerateSession()` replaced the request's session with a new one (not saved yet). */
export interface SessionRegeneratedEvent extends SessionEventBase {
  ctx: SessionContext;
  /** The new session's handle (saved later, which emits `created`). */
  handle: string;
  /** The handle of the session it replaced, undefined when none was stored. `owner` is that one's. */
  previous: string | undefined;
}

/** `destroyed`: the middleware or the owner API removed a live session from the store. */
export interface SessionDestroyedEvent extends SessionEventBase {
  cause: DestroyCause;
}

/** `expired`: a request's cookie named a session that is over; the request goes on with a new one. */
export interface SessionExpiredEvent extends SessionEventBase {
  ctx: SessionContext;
  /**
   * `missing`: the store does not have it (its ttl ran out, it was destroyed
   * from elsewhere, the store lost it, or it never existed); `expires`: its
   * `cookie.expires` has passed; `absoluteTimeout`: its absolute end has passed.
   */
  reason: ExpiredReason;
}

/** `lost`: a save found its session gone (destroyed or expired while the request ran); nothing was written. */
export interface SessionLostEvent extends SessionEventBase {
  ctx: SessionContext;
}

/** `invalid`: stored data was refused (the middleware's check, or the store's own). */
export interface SessionInvalidEvent {
  reason: string;
  /** The refused session's handle, when the store key is known. */
  handle?: string;
  ctx?: SessionContext;
  /** Who refused it: the middleware, or the store (forwarded from its own `invalid` event). */
  source: 'middleware' | 'store';
}

/** Every event of the middleware and its arguments. */
export interface SessionEventMap {
  status: [status: StoreStatus, previous: StoreStatus];
  invalid: [event: SessionInvalidEvent];
  created: [event: SessionCreatedEvent];
  regenerated: [event: SessionRegeneratedEvent];
  destroyed: [event: SessionDestroyedEvent];
  expired: [event: SessionExpiredEvent];
  lost: [event: SessionLostEvent];
}

export type SessionEventName = keyof SessionEventMap;

/**
 * The middleware's emitter. Each report method returns at once, building no
 * payload and computing no handle, while nobody listens to its event.
 */
export class SessionEvents extends EventEmitter {
  /** Session id -> store key. */
  readonly keyOf: (sid: string) => string;
  readonly handleKey: string | undefined;

  constructor(keyOf: (sid: string) => string, handleKey: string | undefined) {
    super();
    this.keyOf = keyOf;
    this.handleKey = handleKey;
  }

  /** The handle of session id `sid`. */
  handle(sid: string): string {
    return handleOf(this.keyOf(sid), this.handleKey);
  }

  created(ctx: SessionContext, sid: string, owner: string | undefined): void {
    if (this.listenerCount('created') === 0) return;
    this.emit('created', { handle: this.handle(sid), owner, ctx } satisfies SessionCreatedEvent);
  }

  regenerated(ctx: SessionContext, sid: string, previous: string | undefined, owner: string | undefined): void {
    if (this.listenerCount('regenerated') === 0) return;
    const event: SessionRegeneratedEvent = {
      handle: this.handle(sid),
      previous: previous === undefined ? undefined : this.handle(previous),
      owner,
      ctx,
    };
    this.emit('regenerated', event);
  }

  destroyed(ctx: SessionContext | undefined, sid: string, owner: string | undefined, cause: DestroyCause): void {
    if (this.listenerCount('destroyed') === 0) return;
    this.destroyedKey(ctx, this.keyOf(sid), owner, cause);
  }

  /** `destroyed` for a store key (the owner API works with keys). */
  destroyedKey(ctx: SessionContext | undefined, key: string, owner: string | undefined, cause: DestroyCause): void {
    if (this.listenerCount('destroyed') === 0) return;
    this.emit('destroyed', { handle: handleOf(key, this.handleKey), owner, ctx, cause } satisfies SessionDestroyedEvent);
  }

  expired(ctx: SessionContext, sid: string, owner: string | undefined, reason: ExpiredReason): void {
    if (this.listenerCount('expired') === 0) return;
    this.emit('expired', { handle: this.handle(sid), owner, ctx, reason } satisfies SessionExpiredEvent);
  }

  lost(ctx: SessionContext, sid: string, owner: string | undefined): void {
    if (this.listenerCount('lost') === 0) return;
    this.emit('lost', { handle: this.handle(sid), owner, ctx } satisfies SessionLostEvent);
  }

  invalid(reason: string, source: 'middleware' | 'store', key?: string, ctx?: SessionContext): void {
    if (this.listenerCount('invalid') === 0) return;
    const event: SessionInvalidEvent = { reason, source };
    if (key !== undefined) event.handle = handleOf(key, this.handleKey);
    if (ctx !== undefined) event.ctx = ctx;
    this.emit('invalid', event);
  }
}
