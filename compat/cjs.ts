// The CommonJS form of `koa-generic-session-ts/compat`: the koa v1 factory
// itself, with everything else hanging off it, as `require('koa-generic-session')`
// 1.x was. Only the CommonJS build compiles this.
import * as api from './index.js';

const session = Object.assign(api.session, api, { default: api.session });

export = session;
