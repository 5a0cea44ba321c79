import { expect } from 'chai';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import session, { shutdown } from '../lib/index.js';
import { app } from './support/app.js';
import { EmitterStore } from './support/emitter-store.js';
import request from 'supertest';
import { until } from './support/wait.js';

describe('graceful shutdown', () => {
  it('close() waits for in-flight writes, then quits the store; it is idempotent', async () => {
    const store = new EmitterStore();
    const mw = session({ store });
    const koa = app({}, undefined);
    koa.middleware.length = 0;
    koa.use(mw);
    koa.use((ctx) => {
      ctx.session!.n = 1;
      ctx.body = 'ok';
    });
    store.hold = true;
    const response = request(koa.callback()).get('/').then((r) => r.status);
    await until(() => store.heldWrites > 0, 'the session write to reach the store');
    let closed = false;
    const closing = mw.close().then(() => (closed = true));
    expect(mw.close()).to.equal(mw.close());
    await new Promise((r) => setImmediate(r));
    expect(closed).to.equal(false);
    expect(store.quits).to.equal(0);
    store.release();
    await closing;
    expect(await response).to.equal(200);
    expect(store.ops()).to.deep.equal(['set', 'quit']);
    expect(store.quits).to.equal(1);
    expect(store.data.size).to.equal(1);
  });

  it('the disconnect that quit() causes is intended: nothing turns pending or unavailable, the status ends closed', async () => {
    const store = new EmitterStore();
    const mw = session({ store, reconnectTimeout: 10 });
    const seen: string[] = [];
    mw.on('status', (s) => seen.push(s));
    await mw.close();
    expect(store.quits).to.equal(1);
    expect(mw.status).to.equal('closed');
    expect(seen).to.deep.equal(['closed']);
  });

  it('close() ends a pending window without failing anyone, and goes to closed without passing through available', async () => {
    const store = new EmitterStore();
    const mw = session({ store, reconnectTimeout: 60_000 });
    const seen: string[] = [];
    mw.on('status', (now, before) => seen.push(`${before}->${now}`));
    store.disconnect();
    expect(mw.status).to.equal('pending');
    await mw.close({ closeStore: false });
    expect(mw.status).to.equal('closed');
    expect(seen).to.deep.equal(['available->pending', 'pending->closed']);
    expect(store.quits).to.equal(0);
    store.reconnect();
    expect(mw.status).to.equal('closed');
  });

  it('close() while unavailable: unavailable -> closed, and a store that comes back later changes nothing', async () => {
    const store = new EmitterStore();
    const mw = session({ store, reconnectTimeout: 1 });
    const seen: string[] = [];
    mw.on('status', (now, before) => seen.push(`${before}->${now}`));
    store.disconnect();
    await new Promise<void>((resolve) => mw.on('status', (s) => s === 'unavailable' && resolve()));
    await mw.close();
    store.reconnect();
    expect(seen).to.deep.equal(['available->pending', 'pending->unavailable', 'unavailable->closed']);
    expect(mw.status).to.equal('closed');
  });

  it('close() gives up on writes that outlast its timeout and still closes the store', async () => {
    const store = new EmitterStore();
    const koa = app({ store }, (ctx) => {
      ctx.session!.n = 1;
      ctx.body = 'ok';
    });
    const mw = koa.middleware[0] as ReturnType<typeof session>;
    store.hold = true;
    const response = request(koa.callback()).get('/').then((r) => r.status);
    await until(() => store.heldWrites > 0, 'the session write to reach the store');
    await mw.close({ timeout: 20 });
    expect(store.quits).to.equal(1);
    store.release();
    await response;
  });

  it('shutdown(server, middleware) stops accepting, lets requests finish and save, then closes the store', async () => {
    const store = new EmitterStore();
    const koa = app({ store }, async (ctx) => {
      ctx.session!.n = 1;
      ctx.body = 'ok';
    });
    const mw = koa.middleware[0] as ReturnType<typeof session>;
    const server = koa.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    store.hold = true;
    const inflight = fetch(`http://127.0.0.1:${port}/`).then((r) => r.status);
    await until(() => store.heldWrites > 0, 'the session write to reach the store');
    const done = shutdown(server, mw, { timeout: 5000 });
    await new Promise((r) => setImmediate(r));
    const refused = await fetch(`http://127.0.0.1:${port}/`).then(
      () => 'served',
      () => 'refused',
    );
    expect(refused).to.equal('refused');
    store.release();
    expect(await inflight).to.equal(200);
    await done;
    expect(server.listening).to.equal(false);
    expect(store.quits).to.equal(1);
    expect(store.data.size).to.equal(1);
  });

  it('validates its timeout', async () => {
    const mw = session();
    expect(() => mw.close({ timeout: -1 })).to.throw(TypeError, /timeout/);
  });
});
