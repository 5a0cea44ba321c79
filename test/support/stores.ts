import { EventEmitter } from 'node:events';
import type { Session } from '../../lib/index.js';

export interface Call {
  op: 'get' | 'set' | 'destroy' | 'touch' | 'quit';
  key?: string;
  ttl?: number | undefined;
}

/**
 * An in-memory store that records every call and can be told to fail or to
 * emit connect/disconnect. For tests where the store's behaviour is the
 * subject; Redis tests use a real redis-server.
 */
export class RecordingStore extends EventEmitter {
  readonly data = new Map<string, string>();
  readonly ttls = new Map<string, number | undefined>();
  readonly calls: Call[] = [];
  fail: Partial<Record<'get' | 'set' | 'destroy', unknown>> = {};

  async get(key: string): Promise<Session | null> {
    this.calls.push({ op: 'get', key });
    if (this.fail.get !== undefined) throw this.fail.get;
    const json = this.data.get(key);
    return json === undefined ? null : (JSON.parse(json) as Session);
  }

  async set(key: string, session: Session, ttl?: number): Promise<void> {
    this.calls.push({ op: 'set', key, ttl });
    if (this.fail.set !== undefined) throw this.fail.set;
    this.data.set(key, JSON.stringify(session));
    this.ttls.set(key, ttl);
  }

  async destroy(key: string): Promise<void> {
    this.calls.push({ op: 'destroy', key });
    if (this.fail.destroy !== undefined) throw this.fail.destroy;
    this.data.delete(key);
  }

  ops(): string[] {
    return this.calls.map((c) => c.op);
  }

  stored(key: string): Record<string, unknown> | undefined {
    const json = this.data.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as Record<string, unknown>);
  }
}

/** A RecordingStore with touch(), as RedisStore has. */
export class TouchStore extends RecordingStore {
  async touch(key: string, ttl?: number): Promise<void> {
    this.calls.push({ op: 'touch', key, ttl });
    this.ttls.set(key, ttl);
  }
}
