import './augment.js';
import { createSessionMiddleware, type SessionMiddleware } from './middleware.js';
import { dualMiddleware } from '../compat/koa1.js';
import type { SessionOptions } from './types.js';

/**
 * Koa session middleware with pluggable stores, for koa v1, v2 and v3.
 * @example
 * import session from 'koa-generic-session-ts';
 * app.keys = ['a long random secret'];
 * app.use(session({ cookie: { maxAge: 3600_000 } }));
 */
export function session(options?: SessionOptions): SessionMiddleware {
  return dualMiddleware(createSessionMiddleware(options));
}

export default session;
export { MemoryStore, type MemoryStoreOptions } from './store/memory.js';
export { PrefixedStore, type SessionInfo } from './store/prefixed.js';
export {
  RedisStore,
  RedisStoreConnectionError,
  RedisStoreTimeoutError,
  type RedisClient,
  type RedisSerializer,
  type RedisStoreInvalidValue,
  type RedisStoreOptions,
  type RedisStoreStatus,
} from './store/redis.js';
export { shutdown, closeOnSignal, type ShutdownOptions } from './shutdown.js';
export {
  SessionError,
  SessionStoreOutageError,
  SessionStoreUnavailableError,
  SessionStoreTimeoutError,
  SessionKeysMissingError,
  SessionKeysInvalidError,
  SessionDescribeError,
  type StoreMethod,
} from './errors.js';
export type { SessionMiddleware, Next } from './middleware.js';
export type {
  SessionEventMap,
  SessionEventName,
  SessionEventBase,
  SessionCreatedEvent,
  SessionRegeneratedEvent,
  SessionDestroyedEvent,
  SessionExpiredEvent,
  SessionLostEvent,
  SessionInvalidEvent,
  DestroyCause,
  ExpiredReason,
} from './events.js';
export type {
  CloseOptions,
  HashIdsOptions,
  Session,
  SessionContext,
  SessionCookie,
  SessionData,
  SessionErrorType,
  SessionIdStore,
  SessionOptions,
  SessionPatch,
  OwnedSession,
  OwnerChange,
  DeviceInfo,
  SessionStore,
  StoreResult,
  StoreStatus,
  Thunk,
} from './types.js';
