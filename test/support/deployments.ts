import { RedisCluster, RedisSentinel, RedisServer } from './redis.js';
import { RedisStore, type RedisStoreOptions } from '../../lib/store/redis.js';

/** One Redis deployment a test suite runs against: started once, with direct access to its nodes. */
export interface Deployment {
  label: string;
  start(): Promise<void>;
  /** A store on the deployment; `options` go along with its address. */
  store(options?: RedisStoreOptions): RedisStore;
  nodes(): RedisServer[];
  nodeFor(key: string): Promise<RedisServer>;
}

export function standalone(serverLabel: string): Deployment {
  let redis: RedisServer;
  return {
    label: 'standalone',
    start: async () => void (redis = await RedisServer.start({ label: serverLabel })),
    store: (options = {}) => new RedisStore({ url: redis.url, ...options }),
    nodes: () => [redis],
    nodeFor: async () => redis,
  };
}

export function sentinel(): Deployment {
  let set: RedisSentinel;
  return {
    label: 'Sentinel (a master, a replica, one sentinel)',
    start: async () => void (set = await RedisSentinel.start()),
    store: (options = {}) => new RedisStore({ sentinels: set.sentinelNodes, name: set.name, ...options }),
    nodes: () => [set.master],
    nodeFor: async () => set.master,
  };
}

export function cluster(): Deployment {
  let c: RedisCluster;
  return {
    label: 'Cluster (3 masters)',
    start: async () => void (c = await RedisCluster.start({ masters: 3 })),
    store: (options = {}) => new RedisStore({ cluster: c.startupNodes, ...options }),
    nodes: () => c.nodes,
    nodeFor: (key) => c.nodeForKey(key),
  };
}
