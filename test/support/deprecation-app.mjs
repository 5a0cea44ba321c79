// A small app loading the built package by name, as an app does; run in its
// own Node process by test/no-deprecation.test.ts, which reads its stderr.
// Usage: node deprecation-app.mjs <koa1|koa2|koa> <main|compat|control> <eager|defer> <import|require>
//   control: a koa v2 app that also uses a generator handler, which koa v2
//   reports as deprecated: proves that the test sees Koa's deprecations.
import { createRequire } from 'node:module';
import http from 'node:http';
import { once } from 'node:events';

const require = createRequire(import.meta.url);
const [koaName, entry, mode, loader] = process.argv.slice(2);
const defer = mode === 'defer';

async function load(name) {
  return loader === 'require' ? require(name) : await import(name);
}

let session;
if (entry === 'compat') {
  session = (await load('koa-generic-session-ts/compat')).session;
} else {
  const main = await load('koa-generic-session-ts');
  // require() gives the factory itself (as require('koa-generic-session') did), import its default
  session = loader === 'require' ? main : main.default;
}

let app;
if (koaName === 'koa1') {
  app = require('koa1')();
  app.use(session({ defer }));
  app.use(function* () {
    const s = defer ? yield this.session : this.session;
    s.n = (s.n || 0) + 1;
    this.body = String(s.n);
  });
} else {
  const Koa = require(koaName);
  app = new Koa();
  app.use(session({ defer }));
  if (entry === 'control') {
    app.use(function* (next) {
      yield next;
    });
  }
  app.use(async (ctx) => {
    const s = await ctx.session;
    s.n = (s.n || 0) + 1;
    ctx.body = String(s.n);
  });
}
app.keys = ['deprecation test key'];

const server = http.createServer(app.callback());
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address();

async function get(cookie) {
  const req = http.get({ host: '127.0.0.1', port, path: '/', headers: cookie ? { cookie } : {} });
  const [res] = await once(req, 'response');
  let body = '';
  for await (const chunk of res) body += chunk;
  const jar = (res.headers['set-cookie'] || []).map((line) => line.split(';')[0]).join('; ');
  return { body, jar };
}

const first = await get('');
const second = await get(first.jar);
server.close();
process.stdout.write(JSON.stringify([first.body, second.body]));
