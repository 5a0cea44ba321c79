// `npm start`: the demo on http://127.0.0.1:3000/ (PORT to change it), on
// MemoryStore, or on Redis when REDIS_URL is set.
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
  await demo.close();
  process.exitCode = 1;
});

let stopping = false;
async function stop(signal) {
  if (stopping) {
    // a second Ctrl+C: do not wait any longer
    process.exit(130);
  }
  stopping = true;
  console.log(`${signal}: stopping`);
  // browsers hold keep-alive connections open; close() alone would wait for them
  server.close();
  server.closeIdleConnections();
  try {
    await demo.close();
  } catch (err) {
    console.error(`closing the session store failed: ${err.message}`);
    process.exitCode = 1;
  }
  server.closeAllConnections();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
