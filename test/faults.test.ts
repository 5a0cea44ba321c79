import { stopAllRedis } from './support/redis.js';
import { SHORT, failingStore, gracefulShutdown, memoryFlood, redisClientKill, redisKill, redisStop, slowStore } from './support/scenarios.js';

/**
 * Fault injection, short variants (a few seconds each); test/soak/ runs the
 * same scenarios longer (`npm run test:soak`). Each scenario runs the app in
 * its own process under steady concurrent load over real HTTP on 127.0.0.1
 * and checks: no crash or unhandled rejection, only success or documented
 * errors and no hang, no acknowledged write lost, memory back to baseline.
 * The figures are printed for the README and the issue.
 */
describe('fault injection', function () {
  this.timeout(60_000);

  after(stopAllRedis);

  describe('Redis faults (RedisStore, real redis-server)', () => {
    it('SIGKILL mid-load, restart after 2 s, with AOF persistence: no acknowledged write lost', () => redisKill(SHORT, true));
    it('SIGKILL mid-load, restart after 2 s, without persistence: the restart destroys the data, later writes kept', () => redisKill(SHORT, false));
    it('SIGSTOP longer than reconnectTimeout, then SIGCONT', () => redisStop(SHORT));
    it('CLIENT KILL TYPE normal while requests are in flight', () => redisClientKill(SHORT));
    it('SIGTERM under load: graceful shutdown loses no acknowledged write and exits by itself', () => gracefulShutdown(SHORT));
  });

  // the same four checks with the cache on: its flushes and re-enabling under load crash nothing, lose no
  // acknowledged write, and leave memory at baseline (that nothing stale is served is test/redis-cache*.test.ts's)
  describe('Redis faults, RedisStore with its cache', () => {
    it('SIGKILL mid-load, restart after 2 s, without persistence: the restart destroys the data, later writes kept', () => redisKill(SHORT, false, true));
    it('SIGSTOP longer than reconnectTimeout, then SIGCONT', () => redisStop(SHORT, true));
    it('CLIENT KILL TYPE normal while requests are in flight', () => redisClientKill(SHORT, true));
  });

  describe('stores that misbehave', () => {
    it('a slow store (0-500 ms per call)', () => slowStore(SHORT));
    it('a store that throws on 10% of calls', () => failingStore(SHORT));
    it(`MemoryStore under ${SHORT.floodRequests} requests with short ttls: bounded, expired sessions gone`, () => memoryFlood(SHORT));
  });
});
