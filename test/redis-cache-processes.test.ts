import { expect } from 'chai';
import { CacheApp } from './support/cache-processes.js';
import { RedisServer, stopAllRedis } from './support/redis.js';

const keyOf = (sid: string | null) => 'koa:sess:' + String(sid);

/** The `q`-quantile of sorted `values` (nearest rank). */
const quantile = (values: number[], q: number) => values[Math.min(values.length - 1, Math.ceil(q * values.length) - 1)]!;

/**
 * Two app processes on one redis-server, each with RedisStore's cache on:
 * what one process changes, the other serves once Redis's invalidation has
 * reached it, and not from its cache afterwards. Every wait is on what a
 * process reports over IPC (an invalidation, a held request), not on time.
 */
describe('RedisStore cache across two app processes (real redis-server, two Node processes)', function () {
  let redis: RedisServer;
  let one: CacheApp;
  let two: CacheApp;

  before(async () => {
    redis = await RedisServer.start({ label: 'cache-processes' });
    // both start at once; one that started is stopped by `after` even when the other failed
    const [first, second] = await Promise.allSettled([CacheApp.start('one', redis.url), CacheApp.start('two', redis.url)]);
    if (first.status === 'fulfilled') one = first.value;
    if (second.status === 'fulfilled') two = second.value;
    for (const result of [first, second]) if (result.status === 'rejected') throw result.reason;
  });
  after(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await stopAllRedis();
  });

  /**
   * Waits until every invalidation Redis sent both processes before this
   * call has reached them: invalidations travel on one connection per
   * process, in the order Redis made them, so once a key written now is
   * reported, everything written earlier was.
   */
  async function fence(): Promise<void> {
    const key = 'fence:' + String(Math.random());
    await redis.command('SET', key, '{"cookie":{}}');
    await Promise.all([one.get(`/__track?key=${key}`), two.get(`/__track?key=${key}`)]);
    const marks = [one.mark(), two.mark()];
    await redis.command('SET', key, '{"cookie":{},"n":1}');
    await Promise.all([one.invalidated(key, marks[0]!), two.invalidated(key, marks[1]!)]);
  }

  it('a change through one process is served by the other once its invalidation arrived; the other served repeated reads from its cache and misses right after', async () => {
    const login = await one.get('/login?user=ann');
    const cookie = login.cookie;
    const key = keyOf(login.body.sid);

    const before = await two.stats();
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'ann' });
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'ann' });
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'ann' });
    const cached = await two.stats();
    expect(cached.misses - before.misses, 'the first read goes to Redis').to.equal(1);
    expect(cached.hits - before.hits, 'the next two are served from the process').to.equal(2);

    const mark = two.mark();
    await one.get('/set?k=color&v=blue', cookie);
    await two.invalidated(key, mark);
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'ann', color: 'blue' });
    const after = await two.stats();
    expect(after.misses - cached.misses, 'the read after the invalidation went to Redis').to.equal(1);
    expect(after.hits - cached.hits).to.equal(0);
    expect(after.invalidations - cached.invalidations).to.be.at.least(1);
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'ann', color: 'blue' });
    expect((await two.stats()).hits - after.hits, 'and the one after that is a hit again').to.equal(1);

    // and the other way round: one process's change is never served stale by the process that made it
    const back = one.mark();
    await two.get('/set?k=color&v=green', cookie);
    await one.invalidated(key, back);
    expect((await one.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'ann', color: 'green' });
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'ann', color: 'green' });
  });

  it('a change by a process, then one by the other: the first process still hears of the second (Redis keeps tracking a key its own write touched)', async () => {
    const { cookie, body } = await one.get('/login?user=cid');
    const key = keyOf(body.sid);
    await two.get('/read', cookie);
    // the first process writes, and is then the one that must hear of the next change
    let mark = two.mark();
    await one.get('/set?k=step&v=1', cookie);
    await two.invalidated(key, mark);
    expect((await one.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'cid', step: '1' });
    mark = one.mark();
    await two.get('/set?k=step&v=2', cookie);
    // the fence, not the key's own invalidation: if it never came, the read below tells
    await fence();
    expect(one.messages.slice(mark).some((m) => m.type === 'invalidate' && m.keys.includes(key))).to.equal(true);
    expect((await one.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'cid', step: '2' });
  });

  it('a logout through one process: the other process\'s next request with that cookie has no session', async () => {
    const { cookie, body } = await one.get('/login?user=bob');
    const key = keyOf(body.sid);
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'bob' });
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'bob' });
    const mark = two.mark();
    await one.get('/logout', cookie);
    await two.invalidated(key, mark);
    const res = await two.get('/read', cookie);
    expect(res.body.fields).to.deep.equal({});
    expect(res.body.sid, 'a new, unsaved session').to.not.equal(body.sid);
    expect((await one.get('/read', cookie)).body.fields).to.deep.equal({});
    expect(await redis.command('EXISTS', key)).to.equal(0);
  });

  it('log out everywhere through one process: the other process serves none of the ended sessions, from its cache or Redis; the kept one stays', async () => {
    const phone = await one.get('/login?user=dan');
    const laptop = await one.get('/login?user=dan');
    const tablet = await two.get('/login?user=dan');
    for (const login of [phone, laptop, tablet]) {
      for (const app of [one, two]) {
        await app.get('/read', login.cookie);
        expect((await app.get('/read', login.cookie)).body.fields).to.deep.equal({ userId: 'dan' });
      }
    }
    const marks = [one.mark(), two.mark()];
    const ended = await one.get('/everywhere', phone.cookie);
    expect(ended.body.ended).to.equal(2);
    await two.invalidated(keyOf(laptop.body.sid), marks[1]!);
    await two.invalidated(keyOf(tablet.body.sid), marks[1]!);
    await fence();
    // Redis does not tell the process that ended them (its own writes): it drops them itself
    const ownNews = one.messages.slice(marks[0]).filter((m) => m.type === 'invalidate' && !m.keys.every((k) => k.startsWith('fence:')));
    expect(ownNews).to.deep.equal([]);
    for (const app of [one, two]) {
      expect((await app.get('/read', laptop.cookie)).body.fields, `${app.name}: laptop`).to.deep.equal({});
      expect((await app.get('/read', tablet.cookie)).body.fields, `${app.name}: tablet`).to.deep.equal({});
      expect((await app.get('/read', phone.cookie)).body.fields, `${app.name}: phone`).to.deep.equal({ userId: 'dan' });
    }
  });

  it('measures the invalidation delay: from the reply to one process\'s write to the other\'s cacheInvalidate (printed, not asserted)', async () => {
    const { cookie, body } = await one.get('/login?user=eve');
    const key = keyOf(body.sid);
    const samples = 250;
    const delays: number[] = [];
    const before = await two.stats();
    for (let i = 0; i < samples; i++) {
      // a read after each invalidation: Redis tracks the key for this process again
      await two.get('/read', cookie);
      const marks = [one.mark(), two.mark()];
      await one.get(`/set?k=n&v=${i}`, cookie);
      const [written, invalidated] = await Promise.all([
        one.next((m) => m.type === 'written' && m.key === key, marks[0]),
        two.invalidated(key, marks[1]!),
      ]);
      delays.push(invalidated.at - (written as { at: number }).at);
    }
    const after = await two.stats();
    expect(after.misses - before.misses, 'every read after an invalidation went to Redis').to.equal(samples);
    expect(after.invalidations - before.invalidations).to.be.at.least(samples);
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal({ userId: 'eve', n: String(samples - 1) });
    delays.sort((a, b) => a - b);
    const ms = (v: number) => v.toFixed(3);
    console.log(
      `      invalidation delay over ${samples} changes (reply to the write in one process -> cacheInvalidate in the other; ` +
        `negative: the invalidation came first): min ${ms(delays[0]!)} ms, median ${ms(quantile(delays, 0.5))} ms, ` +
        `p99 ${ms(quantile(delays, 0.99))} ms, max ${ms(delays[delays.length - 1]!)} ms`,
    );
  });

  it('10 parallel changes of one session, 5 through each process, all loaded before any is saved: all 10 kept', async () => {
    const { cookie, body } = await one.get('/login?user=fay');
    const key = keyOf(body.sid);
    // both processes hold the session: each change is loaded from a cache
    for (const app of [one, two]) for (let i = 0; i < 2; i++) await app.get('/read', cookie);
    const hits = [(await one.stats()).hits, (await two.stats()).hits];
    const marks = [one.mark(), two.mark()];
    const changes = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? one : two).get(`/set?k=f${i}&v=${i}&hold=parallel`, cookie));
    await Promise.all([one.count((m) => m.type === 'held', 5, marks[0]!), two.count((m) => m.type === 'held', 5, marks[1]!)]);
    one.send({ type: 'open', name: 'parallel' });
    two.send({ type: 'open', name: 'parallel' });
    for (const res of await Promise.all(changes)) expect(res.status).to.equal(200);
    expect((await one.stats()).hits - hits[0]!, 'the five changes through one loaded the session from its cache').to.equal(5);
    expect((await two.stats()).hits - hits[1]!, 'and the five through two').to.equal(5);

    const expected: Record<string, string> = { userId: 'fay' };
    for (let i = 0; i < 10; i++) expected[`f${i}`] = String(i);
    const { cookie: _cookie, ...stored } = JSON.parse(String(await redis.command('GET', key))) as Record<string, unknown>;
    expect(stored).to.deep.equal(expected);
    await fence();
    expect((await one.get('/read', cookie)).body.fields).to.deep.equal(expected);
    expect((await two.get('/read', cookie)).body.fields).to.deep.equal(expected);
  });
});
