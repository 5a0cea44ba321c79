// The CommonJS form of `koa-generic-session-ts/compat`, and the one
// implementation both module systems load: the koa v1 factory itself, with
// everything else hanging off it, as `require('koa-generic-session')` 1.x
// was. A function and a namespace of one name so the typings carry the types
// too (see lib/cjs.ts). Only the CommonJS build compiles this.
import * as api from './index.js';
import * as memory from '../lib/store/memory.js';
import * as types from '../lib/types.js';

type Factory = typeof session;

/**
 * Koa v1 session middleware: `function* (next)`, as koa-generic-session 1.x.
 * @example
 * var session = require('koa-generic-session-ts/compat');
 * var app = require('koa')();
 * app.keys = ['a long random secret'];
 * app.use(session({ defer: true }));
 */
function session(options?: types.SessionOptions): api.Koa1SessionMiddleware {
  return api.session(options);
}

// eslint-disable-next-line @typescript-eslint/no-namespace
namespace session {
  // `session.session` and `session.default` are the factory itself (assigned below)
  export declare const session: Factory;
  export import MemoryStore = api.MemoryStore;
  export import SessionError = api.SessionError;
  export import SessionStoreOutageError = api.SessionStoreOutageError;
  export import SessionStoreUnavailableError = api.SessionStoreUnavailableError;
  export import SessionStoreTimeoutError = api.SessionStoreTimeoutError;
  export import SessionKeysMissingError = api.SessionKeysMissingError;
  export import SessionKeysInvalidError = api.SessionKeysInvalidError;

  export import Koa1SessionMiddleware = api.Koa1SessionMiddleware;
  export import MemoryStoreOptions = memory.MemoryStoreOptions;
  export import Session = types.Session;
  export import SessionContext = types.SessionContext;
  export import SessionCookie = types.SessionCookie;
  export import SessionData = types.SessionData;
  export import SessionOptions = types.SessionOptions;
  export import SessionStore = types.SessionStore;
  export import StoreResult = types.StoreResult;
  export import Thunk = types.Thunk;
}
Object.assign(session, { session, default: session });

export = session;
