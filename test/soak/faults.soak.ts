import { stopAllRedis } from '../support/redis.js';
import { SOAK, failingStore, gracefulShutdown, memoryFlood, redisClientKill, redisKill, redisStop, slowStore } from '../support/scenarios.js';

/**
 * The fault-injection scenarios of test/faults.test.ts at soak scale: 30 s of
 * load after each fault, 50 concurrent users, 100,000 requests in the
 * MemoryStore flood. Run with `npm run test:soak` (about 5 minutes); not part
 * of `npm test`. The same four checks apply; the figures are printed.
 */
describe('fault injection (soak)', function () {
  this.timeout(10 * 60_000);
  after(stopAllRedis);

  it('Redis SIGKILL mid-load, restart after 2 s, with AOF persistence', () => redisKill(SOAK, true));
  it('Redis SIGKILL mid-load, restart after 2 s, without persistence', () => redisKill(SOAK, false));
  it('Redis SIGSTOP longer than reconnectTimeout, then SIGCONT', () => redisStop(SOAK));
  it('CLIENT KILL TYPE normal every 250 ms under load', () => redisClientKill(SOAK));
  it('SIGTERM after 15 s of load: graceful shutdown', () => gracefulShutdown(SOAK));
  it('a slow store (0-500 ms per call)', () => slowStore(SOAK));
  it('a store that throws on 10% of calls', () => failingStore(SOAK));
  it(`MemoryStore under ${SOAK.floodRequests} requests with short ttls`, () => memoryFlood(SOAK));
});
