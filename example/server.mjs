// `npm start`: the demo on http://127.0.0.1:3000/ (PORT to change it), on
// MemoryStore, or on Redis when REDIS_URL is set.
import { closeOnSignal } from 'koa-generic-session-ts';
import { createApp } from './app.mjs';

const port = process.env.PORT === undefined || process.env.PORT === '' ? 3000 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number (0 to 65535), got ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}

const demo = await createApp({ redisUrl: process.env.REDIS_URL || undefined });
const server = demo.app.listen(port, '127.0.0.1');

server.once('listening', () => {
  const { port: bound } = server.address();
  console.log(`koa-generic-session-ts demo: http://127.0.0.1:${bound}/`);
  console.log(`session store: ${demo.storeName}`);
  console.log('stop with Ctrl+C');
});
server.once('error', async (err) => {
  console.error(
    err.code === 'EADDRINUSE' ? `port ${port} is in use on 127.0.0.1: set PORT to another one` : `cannot listen: ${err.message}`,
  );
  process.exitCode = 1;
  await demo.close();
  stopOnSignal();
});

// On SIGTERM or SIGINT: stop taking connections, let running requests finish
// and their sessions save, then close the store; the process then ends by itself.
const stopOnSignal = closeOnSignal(server, demo.sessions, {
  timeout: 5000,
  onClosed(err) {
    if (err) {
      console.error(`stopping failed: ${err.message}`);
      process.exitCode = 1;
    } else {
      console.log('stopped');
    }
  },
});
// Under `npm start`, one Ctrl+C arrives twice: from the terminal (to the whole
// process group) and forwarded by npm. A repeat within a second is that echo.
let stoppingSince = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stoppingSince === 0) {
      stoppingSince = Date.now();
      console.log(`${signal}: stopping`);
    } else if (Date.now() - stoppingSince > 1000) {
      process.exit(130); // a second Ctrl+C: do not wait any longer
    }
  });
}
