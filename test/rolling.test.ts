import { expect } from 'chai';
import { app, agent, setCookies } from './support/app.js';
import { RecordingStore, TouchStore } from './support/stores.js';

describe('rolling', () => {
  const handler = (ctx: import('koa').Context) => {
    if (ctx.path === '/set') ctx.session!.user = 'ann';
    ctx.body = 'ok';
  };

  it('resets the cookie and rewrites the session on every request when the store has no touch()', async () => {
    const store = new RecordingStore();
    const a = agent(app({ store, rolling: true }, handler));
    await a.get('/set');
    store.calls.length = 0;
    const res = await a.get('/');
    expect(store.ops()).to.deep.equal(['get', 'set']);
    expect(setCookies(res)).to.have.length(2);
  });

  it('extends the ttl with touch() instead of rewriting an unchanged session', async () => {
    const store = new TouchStore();
    const a = agent(app({ store, rolling: true }, handler));
    await a.get('/set');
    store.calls.length = 0;
    const res = await a.get('/');
    expect(store.ops()).to.deep.equal(['get', 'touch']);
    expect(store.calls[1]!.ttl).to.equal(86_400_000);
    expect(setCookies(res)[0]).to.match(/^koa\.sid=/);
  });

  it('does not store an untouched new session', async () => {
    const store = new TouchStore();
    const res = await agent(app({ store, rolling: true }, handler)).get('/');
    expect(store.ops()).to.deep.equal([]);
    expect(setCookies(res)).to.deep.equal([]);
  });

  it('without rolling, an unchanged session costs one get and sets no cookie', async () => {
    const store = new TouchStore();
    const a = agent(app({ store }, handler));
    await a.get('/set');
    store.calls.length = 0;
    const res = await a.get('/');
    expect(store.ops()).to.deep.equal(['get']);
    expect(setCookies(res)).to.deep.equal([]);
  });
});
