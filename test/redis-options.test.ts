import { expect } from 'chai';
import { once } from 'node:events';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { RedisServer, stopAllRedis } from './support/redis.js';
import { RedisStore, type RedisStoreOptions } from '../lib/store/redis.js';
import { REDIS_OPTION_WARNING } from '../lib/store/redis-config.js';

const PASSWORD = 'koa-redis password';

/** The RedisStore warnings `fn` causes (they are emitted on the next tick). */
async function warningsOf(fn: () => void): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.code === REDIS_OPTION_WARNING) seen.push(warning.message);
  };
  process.on('warning', listener);
  try {
    fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

/**
 * Builds a store whose client has not started connecting, and checks, in
 * the same tick (before ioredis opens any socket), that it is lazy and, for a
 * store the test will connect, that it points where `expected` says and not
 * at the machine's shared Redis on 6379; otherwise it is disconnected at once
 * (ioredis then opens no socket) and the test fails. So a store whose options were
 * lost can never reach 127.0.0.1:6379, even while the code is broken.
 */
function build(options: RedisStoreOptions, expected?: { port?: number; path?: string }): RedisStore {
  const store = new RedisStore(options);
  const client = store.client;
  const nodes = client instanceof Cluster ? [] : [client.options];
  const problem =
    client.status !== 'wait'
      ? `the client is ${client.status}, not waiting for lazyConnect`
      : expected !== undefined && nodes.some((o) => o.path === undefined && (o.port ?? 6379) === 6379)
        ? 'the client points at port 6379'
        : expected?.port !== undefined && nodes.some((o) => o.port !== expected.port)
          ? `the client points at port ${nodes[0]!.port}, not ${expected.port}`
          : expected?.path !== undefined && nodes.some((o) => o.path !== expected.path)
            ? `the client's path is ${nodes[0]!.path}, not ${expected.path}`
            : undefined;
  if (problem !== undefined) {
    client.disconnect();
    throw new Error(`unsafe test store: ${problem}`);
  }
  return store;
}

/** A store that never connects: its client is inspected, never used. */
function lazyStore(options: RedisStoreOptions): RedisStore {
  return build({ ...options, lazyConnect: true });
}

/** A store checked by `build`, then connected. */
async function connected(options: RedisStoreOptions, expected: { port?: number; path?: string }): Promise<RedisStore> {
  const store = build({ ...options, lazyConnect: true }, expected);
  await (store.client as Redis).connect();
  return store;
}

describe('RedisStore options: koa-redis 4 shapes and ioredis options at the top level', function () {
  this.timeout(20_000);
  const stores: RedisStore[] = [];
  const clients: Redis[] = [];
  const track = <T extends RedisStore>(store: T) => (stores.push(store), store);
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.quit()));
    for (const client of clients.splice(0)) client.disconnect();
  });
  after(stopAllRedis);

  describe('without connecting (lazyConnect, client options inspected)', () => {
    it('koa-redis shape { host, port, password, db } reaches ioredis as given, not 127.0.0.1:6379 db 0', async () => {
      const store = track(lazyStore({ host: 'redis.internal', port: 6380, password: 'x', db: 2 }));
      const client = store.client as Redis;
      expect(client.status).to.equal('wait');
      expect(client.options).to.include({ host: 'redis.internal', port: 6380, password: 'x', db: 2 });
      // the store's own defaults still apply to what the app did not set
      expect(client.options).to.include({ maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false });
    });

    it('every ioredis option name is taken at the top level, the ones with defaults and the typed ones', () => {
      const names = [
        ...Object.keys((Redis as unknown as { defaultOptions: object }).defaultOptions),
        'tls', 'path', 'Connector', 'sentinelPassword', 'sentinelTLS', 'preferredSlaves', 'socketTimeout', 'scripts',
      ];
      expect(names).to.include.members(['host', 'port', 'username', 'password', 'db', 'family', 'connectTimeout', 'keyPrefix']);
      for (const name of names) {
        expect(() => track(lazyStore({ [name]: undefined } as RedisStoreOptions)), name).to.not.throw();
      }
      const store = track(lazyStore({ family: 6, connectTimeout: 1234, keyPrefix: 'app:', username: 'ann', tls: { servername: 'r' } }));
      expect(store.client.options).to.deep.include({ family: 6, connectTimeout: 1234, keyPrefix: 'app:', username: 'ann', tls: { servername: 'r' } });
    });

    it('koa-redis old names: auth_pass and pass for password, socket for path (the new name wins, as in koa-redis)', () => {
      const password = (options: RedisStoreOptions) => (track(lazyStore(options)).client as Redis).options.password;
      expect(password({ auth_pass: 'a' })).to.equal('a');
      expect(password({ pass: 'b' })).to.equal('b');
      expect(password({ password: 'c', pass: 'b' })).to.equal('c');
      expect((track(lazyStore({ socket: '/tmp/r.sock' })).client as Redis).options.path).to.equal('/tmp/r.sock');
    });

    it('url wins for what it states, the top-level options fill in the rest, and an overridden one is warned about', async () => {
      let store!: RedisStore;
      const warnings = await warningsOf(() => {
        store = track(lazyStore({ url: 'redis://:secret@10.0.0.9:6390/3', host: 'elsewhere', connectTimeout: 999 }));
      });
      expect(store.client.options).to.include({ host: '10.0.0.9', port: 6390, db: 3, password: 'secret', connectTimeout: 999 });
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(/option "host" \("elsewhere"\) is overridden by "url", which gives "10\.0\.0\.9"/);
      expect(warnings[0]).to.not.contain('secret');
      const filled = track(lazyStore({ url: new URL('redis://10.0.0.9:6390'), db: 4 }));
      expect(filled.client.options).to.include({ host: '10.0.0.9', port: 6390, db: 4 });
    });

    it('top level and redisOptions are one set: the same option with two values is an error', () => {
      expect(() => lazyStore({ host: 'a', redisOptions: { host: 'b' } })).to.throw(
        TypeError,
        /option "host" is given twice with different values, at the top level \(the string "a"\) and in redisOptions \(the string "b"\)/,
      );
      const store = track(lazyStore({ host: 'a', redisOptions: { host: 'a', port: 7000 } }));
      expect(store.client.options).to.include({ host: 'a', port: 7000 });
    });

    it('an option neither ioredis nor RedisStore knows throws a TypeError that names it and what to use', () => {
      const cases: Array<[RedisStoreOptions, RegExp]> = [
        [{ hots: 'redis.internal' } as RedisStoreOptions, /RedisStore has no option "hots": did you mean "host"\?/],
        [{ passwd: 'x' } as RedisStoreOptions, /no option "passwd": did you mean "password"\?.*redisOptions/],
        [{ ttl: 3600 } as RedisStoreOptions, /no option "ttl": a session's ttl comes from the session middleware: session\(\{ ttl \}\)/],
        [{ prefix: 'sess:' } as RedisStoreOptions, /no option "prefix": the session key prefix is the session middleware's: session\(\{ prefix \}\)/],
        [{ dataType: 'json' } as RedisStoreOptions, /no option "dataType"\. It takes/],
      ];
      for (const [options, message] of cases) {
        expect(() => lazyStore(options)).to.throw(TypeError, message);
      }
    });

    it('known options of the wrong type throw', () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ db: -1 }, /"db" must be a whole number, 0 or more, got number -1/],
        [{ duplicate: 'yes' }, /"duplicate" must be a boolean/],
        [{ isRedisCluster: 1 }, /"isRedisCluster" must be a boolean/],
        [{ serialize: 'json' }, /"serialize" must be a function, got the string "json"/],
        [{ serializer: { stringify: String, parse: String }, serialize: String }, /"serializer", or koa-redis's "serialize"\/"unserialize", not both/],
        [{ url: 42 }, /"url" must be a string/],
      ];
      for (const [options, message] of cases) {
        expect(() => lazyStore(options as RedisStoreOptions)).to.throw(TypeError, message);
      }
    });

    it('isRedisCluster with nodes and clusterOptions builds a Cluster on those nodes', async () => {
      const nodes = [{ host: '10.0.0.1', port: 7001 }, { host: '10.0.0.2', port: 7002 }];
      let store!: RedisStore;
      const warnings = await warningsOf(() => {
        store = track(build({ isRedisCluster: true, nodes, clusterOptions: { lazyConnect: true, scaleReads: 'slave' }, host: 'ignored.host' }));
      });
      const cluster = store.client as Cluster;
      expect(cluster).to.be.instanceOf(Cluster);
      expect(cluster.status).to.equal('wait');
      expect((cluster as unknown as { startupNodes: unknown }).startupNodes).to.deep.equal(nodes);
      expect(cluster.options).to.include({ scaleReads: 'slave', lazyConnect: true });
      expect(warnings).to.deep.equal([
        'RedisStore ignores "host": a Cluster takes its nodes\' ioredis options in clusterOptions.redisOptions (koa-redis ignored them too)',
      ]);
    });

    it('Cluster conflicts and mistakes are errors: nodes twice, no nodes, a db other than 0', () => {
      const nodes = [{ host: '10.0.0.1', port: 7001 }];
      expect(() => lazyStore({ isRedisCluster: true, cluster: nodes, nodes })).to.throw(TypeError, /takes the Cluster nodes once/);
      expect(() => lazyStore({ isRedisCluster: true })).to.throw(TypeError, /"isRedisCluster" needs "nodes", a non-empty array/);
      expect(() => lazyStore({ isRedisCluster: true, nodes, db: 2 })).to.throw(TypeError, /"db" \(2\) cannot apply to a Cluster/);
      expect(() => lazyStore({ isRedisCluster: true, nodes, url: 'redis://x' })).to.throw(TypeError, /got url and isRedisCluster/);
    });

    it('nodes and clusterOptions without isRedisCluster are ignored with a warning, as koa-redis ignored them', async () => {
      let store!: RedisStore;
      const warnings = await warningsOf(() => {
        store = track(lazyStore({ port: 7777, nodes: [{ port: 7001 }], clusterOptions: {} }));
      });
      expect(store.client).to.be.instanceOf(Redis);
      expect(store.client.options).to.include({ port: 7777 });
      expect(warnings).to.deep.equal([
        'RedisStore ignores "nodes", "clusterOptions": they only apply to a Cluster (isRedisCluster: true or the cluster option)',
      ]);
    });
  });

  describe('on real redis-servers', () => {
    let secured: RedisServer;

    before(async () => {
      // requirepass is set once the server answers: the helpers' start-up PING goes unauthenticated
      secured = await RedisServer.start({ label: 'koa-redis-shape', config: { unixsocket: 'redis.sock', unixsocketperm: 700 } });
      await secured.command('CONFIG', 'SET', 'requirepass', PASSWORD);
    });

    /** A direct client on the secured server's db `db`. */
    function direct(db: number): Redis {
      const client = new Redis({ host: '127.0.0.1', port: secured.port, password: PASSWORD, db, lazyConnect: true });
      clients.push(client);
      return client;
    }

    it('koa-redis shape { host, port, password, db: 2 } writes to that server and db', async () => {
      const store = track(await connected({ host: '127.0.0.1', port: secured.port, password: PASSWORD, db: 2 }, { port: secured.port }));
      await store.set('koa:sess:shape', { cookie: {}, n: 1 }, 60_000);
      expect(await direct(2).get('koa:sess:shape')).to.equal('{"cookie":{},"n":1}');
      expect(await direct(0).get('koa:sess:shape')).to.equal(null);
    });

    it('koa-redis old names socket and pass: a Unix socket with a password', async () => {
      const socket = path.join(secured.dir, 'redis.sock');
      const store = track(await connected({ socket, pass: PASSWORD, db: 5 }, { path: socket }));
      await store.set('koa:sess:socket', { cookie: {} }, 60_000);
      expect(await direct(5).get('koa:sess:socket')).to.equal('{"cookie":{}}');
    });

    it('client with db switches that client to the db, after reconnects too, as koa-redis did; other options are ignored with a warning', async () => {
      const client = direct(0);
      await client.connect();
      let store!: RedisStore;
      const warnings = await warningsOf(() => {
        store = track(new RedisStore({ client, db: 3, host: 'elsewhere.internal' }));
      });
      expect(store.client).to.equal(client);
      expect(warnings).to.deep.equal([
        'RedisStore ignores "host": the store uses "client" as it is (as koa-redis did); add duplicate: true for a connection of its own with them',
      ]);
      await store.set('koa:sess:given', { cookie: {} }, 60_000);
      expect(await direct(3).get('koa:sess:given')).to.equal('{"cookie":{}}');
      client.disconnect(true);
      await once(client, 'ready');
      await store.set('koa:sess:again', { cookie: {} }, 60_000);
      expect(await direct(3).get('koa:sess:again')).to.equal('{"cookie":{}}');
      expect(await direct(0).exists('koa:sess:given', 'koa:sess:again')).to.equal(0);
      // a lazy client is not made to connect: it starts on the db
      const lazy = direct(0);
      track(new RedisStore({ client: lazy, db: 6 }));
      expect(lazy.status).to.equal('wait');
      expect(lazy.options.db).to.equal(6);
    });

    it('client with duplicate: a connection of the store\'s own on the given db; the client is untouched and stays open', async () => {
      const client = direct(0);
      await client.connect();
      const store = track(build({ client, duplicate: true, db: 4 }, { port: secured.port }));
      expect(store.client).to.not.equal(client);
      // the duplicate keeps the client's own settings, lazyConnect included: the first command connects it
      expect(store.client.options).to.include({ port: secured.port, db: 4, password: PASSWORD, lazyConnect: true });
      await store.set('koa:sess:dup', { cookie: {} }, 60_000);
      expect(await direct(4).get('koa:sess:dup')).to.equal('{"cookie":{}}');
      expect(client.options.db).to.equal(0);
      await store.quit();
      expect(store.client.status).to.equal('end');
      expect(client.status).to.equal('ready');
    });

    it('koa-redis serialize/unserialize store and read the values (whole-session saves: no merge)', async () => {
      const at = { host: '127.0.0.1', port: secured.port, password: PASSWORD };
      const store = track(
        await connected(
          { ...at, serialize: (session) => 'v1:' + JSON.stringify(session), unserialize: (text) => JSON.parse(text.slice(3)) },
          { port: secured.port },
        ),
      );
      await store.set('koa:sess:ser', { cookie: {}, a: 1 }, 60_000);
      expect(await direct(0).get('koa:sess:ser')).to.equal('v1:{"cookie":{},"a":1}');
      expect(await store.get('koa:sess:ser')).to.deep.equal({ cookie: {}, a: 1 });
      expect(store.merge).to.equal(undefined);
      const half = track(await connected({ ...at, unserialize: JSON.parse }, { port: secured.port }));
      await half.set('koa:sess:half', { cookie: {}, b: 2 }, 60_000);
      expect(await direct(0).get('koa:sess:half')).to.equal('{"cookie":{},"b":2}');
    });

    it('keyPrefix: every key the store writes carries it', async () => {
      const store = track(await connected({ port: secured.port, host: '127.0.0.1', password: PASSWORD, keyPrefix: 'app1:' }, { port: secured.port }));
      await store.set('koa:sess:pre', { cookie: {}, n: 1 }, 60_000);
      expect(await store.merge!('koa:sess:pre', { set: { n: 2 }, unset: [] } as never, 60_000)).to.equal(true);
      expect(await direct(0).get('app1:koa:sess:pre')).to.equal('{"cookie":{},"n":2}');
      expect(await direct(0).exists('koa:sess:pre')).to.equal(0);
    });
  });
});
