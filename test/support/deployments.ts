import { RedisCluster, RedisSentinel, RedisServer } from './redis.js';
import { RedisStore } from '../../lib/store/redis.js';

/** One Redis deployment a test suite runs against: started once, with direct access to its nodes. */
export interface Deployment {
  label: string;
  start(): Promise<void>;
  store(): RedisStore;
  nodes(): RedisServer[];
  nodeFor(key: string): Promise<RedisServer>;
}

export function standalone(serverLabel: string): Deployment {
  let redis: RedisServer;
  return {
    label: 'standalone',
    start: async () => void (redis = await RedisServer.start({ label: serverLabel })),
    store: () => new RedisStore({ url: redis.url }),
    nodes: () => [redis],
    nodeFor: async () => redis,
  };
}

export function sentinel(): Deployment {
  let set: RedisSentinel;
  return {
    label: 'Sentinel (a master, a replica, one sentinel)',
    start: async () => void (set = await RedisSentinel.start()),
    store: () => new RedisStore({ sentinels: set.sentinelNodes, name: set.name }),
    nodes: () => [set.master],
    nodeFor: async () => set.master,
  };
}

export function cluster(): Deployment {
  let c: RedisCluster;
  return {
    label: 'Cluster (3 masters)',
    start: async () => void (c = await RedisCluster.start({ masters: 3 })),
    store: () => new RedisStore({ cluster: c.startupNodes }),
    nodes: () => c.nodes,
    nodeFor: (key) => c.nodeForKey(key),
  };
}
