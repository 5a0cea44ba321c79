// Compile-only: RedisStore's cache events and stats are typed.
import { RedisStore, type RedisCacheStats } from '../../lib/store/redis.js';

const store = new RedisStore({ url: 'redis://127.0.0.1:6380', lazyConnect: true, cache: { max: 100 } });
store.on('cacheInvalidate', (keys: string[]) => void keys.map((key) => key.length));
store.once('cacheFlush', (reason: string) => void reason.toUpperCase());
const onFlush = (reason: string): void => void reason;
store.off('cacheFlush', onFlush);
// @ts-expect-error the listener gets the keys, not one key
store.on('cacheInvalidate', (key: number) => void key);
const stats: RedisCacheStats | undefined = store.cacheStats();
void stats?.hits;
// @ts-expect-error cache takes true, false or { max }
new RedisStore({ url: 'redis://127.0.0.1:6380', cache: { maxEntries: 1 } });
