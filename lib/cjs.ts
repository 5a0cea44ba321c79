// The CommonJS entry, and the one implementation both module systems load:
// `require('koa-generic-session-ts')` is the middleware factory itself, with
// everything else hanging off it, exactly as `require('koa-generic-session')`
// is; the ESM entry only re-exports what this module holds, so a class is the
// same object through `import` and `require()`. Only the CommonJS build
// compiles this.
//
// A function and a namespace of one name, rather than an object, so the
// typings carry the types too (`session.SessionOptions` after
// `import session = require(...)`) and an app's
// `declare module 'koa-generic-session-ts' { interface SessionData {} }`
// merges into the one SessionData every entry shares. A name exported by
// lib/index.ts belongs here too (test/package.test.ts compares them).
import * as api from './index.js';
import * as errors from './errors.js';
import * as events from './events.js';
import * as middleware from './middleware.js';
import * as memory from './store/memory.js';
import * as prefixed from './store/prefixed.js';
import * as redis from './store/redis.js';
import * as stopping from './shutdown.js';
import * as types from './types.js';

type Factory = typeof session;

/**
 * Koa session middleware with pluggable stores, for koa v1, v2 and v3.
 * @example
 * const session = require('koa-generic-session-ts');
 * app.keys = ['a long random secret'];
 * app.use(session({ store: new session.MemoryStore() }));
 */
function session(options?: types.SessionOptions): middleware.SessionMiddleware {
  return api.session(options);
}

// eslint-disable-next-line @typescript-eslint/no-namespace
namespace session {
  // `session.session` and `session.default` are the factory itself (assigned below)
  export declare const session: Factory;
  export import MemoryStore = api.MemoryStore;
  export import PrefixedStore = api.PrefixedStore;
  export import RedisStore = api.RedisStore;
  export import RedisStoreConnectionError = api.RedisStoreConnectionError;
  export import RedisStoreTimeoutError = api.RedisStoreTimeoutError;
  export import shutdown = api.shutdown;
  export import closeOnSignal = api.closeOnSignal;
  export import SessionError = api.SessionError;
  export import SessionStoreOutageError = api.SessionStoreOutageError;
  export import SessionStoreUnavailableError = api.SessionStoreUnavailableError;
  export import SessionStoreTimeoutError = api.SessionStoreTimeoutError;
  export import SessionKeysMissingError = api.SessionKeysMissingError;
  export import SessionKeysInvalidError = api.SessionKeysInvalidError;
  export import SessionDescribeError = api.SessionDescribeError;
  export import StoreMethod = errors.StoreMethod;

  export import MemoryStoreOptions = memory.MemoryStoreOptions;
  export import SessionInfo = prefixed.SessionInfo;
  export import RedisClient = redis.RedisClient;
  export import RedisSerializer = redis.RedisSerializer;
  export import RedisStoreInvalidValue = redis.RedisStoreInvalidValue;
  export import RedisStoreOptions = redis.RedisStoreOptions;
  export import RedisStoreStatus = redis.RedisStoreStatus;
  export import ShutdownOptions = stopping.ShutdownOptions;
  export import SessionMiddleware = middleware.SessionMiddleware;
  export import SessionEventMap = events.SessionEventMap;
  export import SessionEventName = events.SessionEventName;
  export import SessionEventBase = events.SessionEventBase;
  export import SessionCreatedEvent = events.SessionCreatedEvent;
  export import SessionRegeneratedEvent = events.SessionRegeneratedEvent;
  export import SessionDestroyedEvent = events.SessionDestroyedEvent;
  export import SessionExpiredEvent = events.SessionExpiredEvent;
  export import SessionLostEvent = events.SessionLostEvent;
  export import SessionInvalidEvent = events.SessionInvalidEvent;
  export import DestroyCause = events.DestroyCause;
  export import ExpiredReason = events.ExpiredReason;
  export import Next = middleware.Next;
  export import CloseOptions = types.CloseOptions;
  export import HashIdsOptions = types.HashIdsOptions;
  export import Session = types.Session;
  export import SessionContext = types.SessionContext;
  export import SessionCookie = types.SessionCookie;
  export import SessionData = types.SessionData;
  export import SessionErrorType = types.SessionErrorType;
  export import SessionIdStore = types.SessionIdStore;
  export import SessionOptions = types.SessionOptions;
  export import SessionPatch = types.SessionPatch;
  export import OwnedSession = types.OwnedSession;
  export import OwnerChange = types.OwnerChange;
  export import DeviceInfo = types.DeviceInfo;
  export import SessionStore = types.SessionStore;
  export import StoreResult = types.StoreResult;
  export import StoreStatus = types.StoreStatus;
  export import Thunk = types.Thunk;
}
Object.assign(session, { session, default: session });

export = session;
