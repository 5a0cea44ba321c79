import type { Session } from './types.js';
import { isPlainObject } from './session.js';

/**
 * The member of the stored session that holds what the middleware keeps about
 * the session itself: when it started (`absoluteTimeout`) and when it was last
 * renewed (`rolling: { renewAfter }`). It lives in the stored JSON only: a
 * cookie can be forged, and the app's `ctx.session` never shows it (it is taken
 * off on load and put back by every write).
 */
export const META_KEY = '_kgs';

/** Epoch ms, in the app's clock. */
export interface SessionMeta {
  /** When the session was created or last regenerated (a login). */
  createdAt?: number;
  /** When a write last extended the session's ttl. */
  renewedAt?: number;
}

const hasOwn = Object.prototype.hasOwnProperty;

function stamp(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * Takes the middleware's member off a loaded session and returns it, or
 * undefined when the session has none. A malformed member (written by hand, or
 * by another program) is dropped: such a session counts as stored before the
 * options were on, and gets fresh stamps on its next write.
 */
export function takeMeta(session: Session): SessionMeta | undefined {
  if (!hasOwn.call(session, META_KEY)) return undefined;
  const value: unknown = session[META_KEY];
  delete session[META_KEY];
  if (!isPlainObject(value)) return undefined;
  const createdAt = stamp(value.createdAt);
  const renewedAt = stamp(value.renewedAt);
  if (createdAt === undefined && renewedAt === undefined) return undefined;
  const meta: SessionMeta = {};
  if (createdAt !== undefined) meta.createdAt = createdAt;
  if (renewedAt !== undefined) meta.renewedAt = renewedAt;
  return meta;
}

/**
 * `stored` (the session as the store gets it) with the middleware's member
 * last. A copy: the app's object never gains it. The copy keeps the
 * prototype, so a class's toJSON still applies.
 */
export function withMeta(stored: Session, meta: SessionMeta | undefined): Session {
  if (meta === undefined) return stored;
  const copy = Object.create(Object.getPrototypeOf(stored) as object | null) as Record<string, unknown>;
  for (const key of Object.keys(stored)) {
    if (key === META_KEY) continue;
    Object.defineProperty(copy, key, { value: (stored as Record<string, unknown>)[key], enumerable: true, writable: true, configurable: true });
  }
  Object.defineProperty(copy, META_KEY, { value: { ...meta }, enumerable: true, writable: true, configurable: true });
  return copy as Session;
}

/** What one write stores as the middleware's member; `meta` itself when nothing changes. */
export function metaForWrite(
  meta: SessionMeta | undefined,
  now: number,
  absoluteTimeout: number | undefined,
  renewAfter: number | undefined,
): SessionMeta | undefined {
  const stampCreated = absoluteTimeout !== undefined && meta?.createdAt === undefined;
  if (!stampCreated && renewAfter === undefined) return meta;
  const next: SessionMeta = { ...meta };
  if (stampCreated) next.createdAt = now;
  if (renewAfter !== undefined) next.renewedAt = now;
  return next;
}

/** ms left before the absolute end, or undefined when there is none (option off, or no start time yet). */
export function absoluteRemaining(meta: SessionMeta | undefined, now: number, absoluteTimeout: number | undefined): number | undefined {
  if (absoluteTimeout === undefined || meta?.createdAt === undefined) return undefined;
  return meta.createdAt + absoluteTimeout - now;
}

/** The store ttl capped at the time left before the absolute end: the store expires the session by itself. */
export function capTtl(ttl: number | undefined, remaining: number | undefined): number | undefined {
  if (remaining === undefined) return ttl;
  const left = Math.max(0, Math.ceil(remaining));
  return ttl === undefined ? left : Math.min(ttl, left);
}
