// The CommonJS entry: `require('koa-generic-session-ts')` is the middleware
// factory itself, with everything else hanging off it, exactly as
// `require('koa-generic-session')` is. Only the CommonJS build compiles this.
import * as api from './index.js';

const session = Object.assign(api.session, api, { default: api.session });

export = session;
