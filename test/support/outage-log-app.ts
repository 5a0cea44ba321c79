// A Koa app with Koa's default error handling (no `error` listener) on a
// RedisStore, for counting what an outage prints on stderr. Run under tsx with
// REDIS_URL; prints "listening <port>" on stdout; SIGTERM stops it.
import Koa from 'koa';
import session, { closeOnSignal } from '../../lib/index.js';
import { RedisStore } from '../../lib/store/redis.js';

const store = new RedisStore({ url: process.env.REDIS_URL, commandTimeout: 500 });
const sessions = session({ store, reconnectTimeout: Number(process.env.RECONNECT_TIMEOUT ?? 200) });
const app = new Koa();
app.keys = ['outage log key'];
app.use(sessions);
app.use((ctx) => {
  const s = ctx.session!;
  s.n = ((s.n as number) ?? 0) + 1;
  ctx.body = String(s.n);
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  console.log(`listening ${address.port}`);
});
closeOnSignal(server, sessions, { timeout: 2000 });
