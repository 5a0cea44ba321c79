// app.keys is checked before anything is written to the store: missing or
// unusable keys fail the request with a clear, coded error, and leave no
// orphan session behind.
import { expect } from 'chai';
import Koa from 'koa';
import Keygrip from 'keygrip';
import request from 'supertest';
import session, { SessionKeysInvalidError, SessionKeysMissingError, type Session } from '../lib/index.js';
import { setCookies } from './support/app.js';
import { signedPair } from './support/hostile.js';
import { RecordingStore, TouchStore } from './support/stores.js';

const SECRET = 'do-not-print-me';

function keysApp(keys: unknown, options: Parameters<typeof session>[0] = {}) {
  const store = new TouchStore();
  const errors: Error[] = [];
  const koa = new Koa();
  (koa as { keys: unknown }).keys = keys;
  koa.on('error', (err: Error) => errors.push(err));
  koa.use(session({ store, ...options }));
  koa.use((ctx) => {
    if (ctx.path === '/logout') ctx.session = null;
    else (ctx.session as Session).user = 'ann';
    ctx.body = 'ok';
  });
  return { koa, store, errors };
}

/** Store calls that write. */
function writes(store: RecordingStore): string[] {
  return store.ops().filter((op) => op !== 'get');
}

const MISSING: Array<[string, unknown]> = [
  ['unset', undefined],
  ['null', null],
  ['an empty array', []],
];
const INVALID: Array<[string, unknown, RegExp]> = [
  ['a string', SECRET, /^app\.keys is a string, not an array/],
  ['an array with an empty string', [''], /^app\.keys\[0\] is an empty string/],
  ['an array with an empty second key', ['a long secret', ''], /^app\.keys\[1\] is an empty string/],
  ['an array with a number', [42], /^app\.keys\[0\] is number, not a string/],
  ['an array with null', ['a long secret', null], /^app\.keys\[1\] is null, not a string/],
  ['an object that is not a Keygrip', { sign: 'x' }, /^app\.keys is object, not an array/],
  ['a number', 42, /^app\.keys is number, not an array/],
];

describe('app.keys is checked before the store is written', () => {
  for (const [name, keys] of MISSING) {
    it(`app.keys ${name}: SessionKeysMissingError, nothing written to the store`, async () => {
      const { koa, store, errors } = keysApp(keys);
      const res = await request(koa.callback()).get('/');
      expect(res.status).to.equal(500);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(SessionKeysMissingError);
      expect((errors[0] as SessionKeysMissingError).code).to.equal('ERR_SESSION_KEYS_MISSING');
      expect(writes(store)).to.deep.equal([]);
      expect(setCookies(res)).to.deep.equal([]);
    });
  }

  for (const [name, keys, message] of INVALID) {
    it(`app.keys ${name}: SessionKeysInvalidError saying what is wrong, nothing written to the store`, async () => {
      const { koa, store, errors } = keysApp(keys);
      const res = await request(koa.callback()).get('/');
      expect(res.status).to.equal(500);
      expect(errors).to.have.length(1);
      const err = errors[0] as SessionKeysInvalidError;
      expect(err).to.be.instanceOf(SessionKeysInvalidError);
      expect(err.code).to.equal('ERR_SESSION_KEYS_INVALID');
      expect(err.message).to.match(message);
      expect(err.message).to.include("app.keys = ['a long random secret'");
      expect(err.message).not.to.include(SECRET);
      expect(writes(store)).to.deep.equal([]);
      expect(setCookies(res)).to.deep.equal([]);
    });
  }

  it('a request carrying a signed cookie with app.keys a string: the same error when the cookie is read, not "this.keys.index is not a function"', async () => {
    const { koa, store, errors } = keysApp(SECRET);
    const res = await request(koa.callback()).get('/').set('Cookie', signedPair('koa.sid', 'someid000000000000000000', SECRET));
    expect(res.status).to.equal(500);
    expect(errors[0]).to.be.instanceOf(SessionKeysInvalidError);
    expect(store.ops()).to.deep.equal([]);
  });

  it('rolling, keys made unusable during the request: no touch reaches the store', async () => {
    const { koa, store, errors } = keysApp(['a long secret'], { rolling: true });
    const login = await request(koa.callback()).get('/');
    const cookie = setCookies(login).map((line) => line.split(';')[0]).join('; ');
    store.calls.length = 0;
    koa.middleware.splice(1, 0, async (ctx, next) => {
      await next();
      ctx.app.keys = ['a long secret', ''];
    });
    const res = await request(koa.callback()).get('/').set('Cookie', cookie);
    expect(res.status).to.equal(500);
    expect(errors[0]).to.be.instanceOf(SessionKeysInvalidError);
    expect(store.ops()).to.deep.equal(['get']);
  });

  it('a Keygrip instance and Buffer keys stay valid', async () => {
    for (const keys of [new Keygrip(['a long secret']), [Buffer.from('a long secret')]]) {
      const { koa, store, errors } = keysApp(keys);
      const res = await request(koa.callback()).get('/');
      expect(errors).to.deep.equal([]);
      expect(res.status).to.equal(200);
      expect(writes(store)).to.deep.equal(['set']);
      expect(setCookies(res).map((line) => line.split('=')[0])).to.deep.equal(['koa.sid', 'koa.sid.sig']);
    }
  });

  it('unsigned cookies need no keys', async () => {
    const { koa, store, errors } = keysApp(undefined, { cookie: { signed: false } });
    const res = await request(koa.callback()).get('/');
    expect(errors).to.deep.equal([]);
    expect(res.status).to.equal(200);
    expect(writes(store)).to.deep.equal(['set']);
  });

  it('the error still goes through errorHandler("set"), as the cookie error did in koa-generic-session 2.3.1', async () => {
    const handled: Array<[unknown, string]> = [];
    const { koa, store } = keysApp([''], { errorHandler: (err, type) => void handled.push([err, type]) });
    const res = await request(koa.callback()).get('/');
    expect(res.status).to.equal(200);
    expect(handled).to.have.length(1);
    expect(handled[0]![0]).to.be.instanceOf(SessionKeysInvalidError);
    expect(handled[0]![1]).to.equal('set');
    expect(writes(store)).to.deep.equal([]);
  });
});
