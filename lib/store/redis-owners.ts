import type { OwnedSession, OwnerChange } from '../types.js';
import type { RedisClient } from './redis-client.js';
import { describe } from './redis-config.js';
import { OWNER_READ, OWNER_REMOVE, type RedisScript } from './redis-scripts.js';

/** Commands per batch when listing or destroying an owner's sessions. */
const BATCH = 1000;

export type WriteOp = 'set' | 'merge' | 'touch' | 'del';

/** A write's code (see `RedisStore#write`), and for code 3 the text Redis holds. */
export interface WriteReply {
  code: number;
  stored?: string;
}

/** What a write does to one owner's index; see the OWNER function in redis-scripts.ts. */
export type OwnerKind = 'add' | 'xx' | 'keep' | 'keepxx' | 'remove';

export interface OwnerAction {
  kind: OwnerKind;
  owner: string;
}

/** What the owner index uses of its store: the client, and commands run under the store's timeout. */
export interface OwnerIndexHost {
  readonly client: RedisClient;
  readonly isCluster: boolean;
  readonly prefix: string;
  run<T>(command: string, start: (deadline: number) => Promise<T>): Promise<T>;
  eval(script: RedisScript, keys: string[], args: string[]): Promise<unknown>;
  /** Session keys this index deleted: the store's cache drops them. */
  forget(keys: string[]): void;
  /** The WRITE script on an owner's keys alone (op `none`): a Cluster write's owner half. */
  ownerScript(deadline: number, keys: string[], px: number | undefined, member: string, kind: OwnerKind, change: OwnerChange | undefined): Promise<Array<number | string>>;
}

/**
 * RedisStore's owner index: per owner a sorted set of session keys scored by
 * expiry and a hash of their times and device info (see docs/owners.md),
 * both in one Cluster slot. Standalone and Sentinel writes keep it inside the
 * session's write script; this class holds what reads it, what ends an
 * owner's sessions, and a Cluster write's owner half.
 */
export class RedisOwnerIndex {
  readonly #host: OwnerIndexHost;

  constructor(host: OwnerIndexHost) {
    this.#host = host;
  }

  /**
   * An owner's sorted set and hash. The owner sits in a Cluster hash tag, so
   * both keys share one slot; `%`, `{` and `}` in it are percent-encoded, so
   * the tag is always the whole owner and two owners never share a key.
   */
  keys(owner: string): [string, string] {
    const tag = owner.replace(/[%{}]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    const index = `${this.#host.prefix}{${tag}}`;
    return [index, index + ':meta'];
  }

  /**
   * The live sessions recorded under `owner`: one script reads (and prunes)
   * the owner's index, then one `PTTL` per session (pipelined, in batches)
   * confirms it still exists; entries whose session is gone are dropped.
   */
  async list(owner: string): Promise<OwnedSession[]> {
    const [index, meta] = this.keys(checkOwner(owner, 'listOwned'));
    const reply = await this.#host.run('OWNER INDEX', () => this.#host.eval(OWNER_READ, [index, meta], ['prune', 'meta']));
    const [members, flat] = reply as [string[], string[]];
    const times = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) times.set(flat[i]!, flat[i + 1]!);
    const ttls = await this.#batch('PTTL', members);
    const now = Date.now();
    const live: OwnedSession[] = [];
    const gone: string[] = [];
    members.forEach((key, i) => {
      const pttl = ttls[i]!;
      if (pttl === -2) {
        gone.push(key);
        return;
      }
      // "createdAt:savedAt:lastSeenAt:info", or "createdAt:savedAt" as written before lastSeenAt was kept
      const entry = times.get(key) ?? '';
      const [createdAt, savedAt, seenAt] = entry.split(':', 3).map(Number);
      const infoAt = nthColon(entry, 3);
      live.push({
        key,
        createdAt: createdAt || now,
        savedAt: savedAt || createdAt || now,
        expiresAt: pttl < 0 ? null : now + pttl,
        lastSeenAt: seenAt || savedAt || createdAt || now,
        ...(infoAt < 0 ? {} : { info: entry.slice(infoAt + 1) }),
      });
    });
    if (gone.length > 0) await this.#unindex(index, meta, gone);
    return live;
  }

  /**
   * Deletes every session recorded under `owner` but `exceptKey` (one `DEL`
   * per session, in batches: multi-key on standalone, one key per command in a
   * Cluster, where they live in other slots), then drops them from the index.
   * Resolves how many sessions existed. Members are removed one by one, not
   * the whole index: a session that logs in meanwhile stays listed.
   */
  async destroyAll(owner: string, exceptKey?: string): Promise<number> {
    const host = this.#host;
    const [index, meta] = this.keys(checkOwner(owner, 'destroyOwned'));
    const reply = await host.run('OWNER INDEX', () => host.eval(OWNER_READ, [index, meta], ['', '']));
    const members = (reply as [string[]])[0].filter((key) => key !== exceptKey);
    let destroyed = 0;
    try {
      if (host.isCluster) {
        for (const n of await this.#batch('DEL', members)) destroyed += n;
      } else {
        for (let i = 0; i < members.length; i += BATCH) {
          const keys = members.slice(i, i + BATCH);
          destroyed += await host.run('DEL', () => host.client.del(...keys));
        }
      }
    } finally {
      host.forget(members);
    }
    // the index entries go once their sessions are gone: a failure in between leaves entries, never live sessions without one
    await this.#unindex(index, meta, members);
    return destroyed;
  }

  /**
   * A Cluster write: the owners' keys live in other slots than the session
   * key, so no one command may hold them all. The session write
   * (`sessionWrite`) and each owner's bookkeeping go out at once: the request
   * waits one round trip, not two; repairs, rare, take one more.
   *
   * With a limit, a session enters its owner's index only once its data is
   * stored: a sign-in elsewhere that ends it then deletes data that exists,
   * instead of racing a write still on its way. One more round trip, for
   * saves that may record a session under a limited owner.
   */
  async clusterWrite(
    command: string,
    key: string,
    px: number | undefined,
    actions: OwnerAction[],
    change: OwnerChange | undefined,
    sessionWrite: () => Promise<WriteReply>,
  ): Promise<WriteReply> {
    const host = this.#host;
    if (change?.limit !== undefined && actions.some((action) => action.kind === 'add')) {
      const reply = await sessionWrite();
      if (reply.code < 1 || reply.code === 3) return reply;
      await Promise.all(actions.map((action) => this.#ownerWrite(command, action.kind, action.owner, key, px, change)));
      await Promise.all((change.ended ?? []).map((ended) => host.run('DEL', () => host.client.del(ended))));
      return reply;
    }
    const results = await Promise.allSettled([
      sessionWrite(),
      ...actions.map((action) => this.#ownerWrite(command, action.kind, action.owner, key, px, change)),
    ]);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    const [reply, ...present] = results.map((result) => (result as PromiseFulfilledResult<WriteReply | number>).value);
    const code = (reply as WriteReply).code;
    // a merge that found another text wrote nothing: its second try sends the same owner change, and repairs
    if (code === 3) return reply as WriteReply;
    // An owner change recorded for a session that turned out to be gone is taken back; a session saved
    // under an owner whose index had lost it is recorded again. Sessions the owner's limit ended left
    // the index atomically with this one's entry; their data lives on other nodes, and goes now.
    await Promise.all([
      ...(change?.ended ?? []).map((ended) => host.run('DEL', () => host.client.del(ended))),
      ...actions.map((action, i) => {
        if ((action.kind === 'add' || action.kind === 'keep') && code < 1) {
          return this.#ownerWrite(command, 'remove', action.owner, key, px, undefined);
        }
        if ((action.kind === 'xx' || action.kind === 'keepxx') && code >= 1 && present[i] === 0) {
          return this.#ownerWrite(command, action.kind === 'xx' ? 'add' : 'keep', action.owner, key, px, change);
        }
        return undefined;
      }),
    ]);
    return reply as WriteReply;
  }

  /**
   * The owner bookkeeping of a Cluster write, on the owner's keys alone; resolves 1 when the session was
   * already recorded. Keys the owner's limit ended are added to `change.ended`.
   */
  async #ownerWrite(
    command: string,
    kind: OwnerKind,
    owner: string,
    member: string,
    px: number | undefined,
    change: OwnerChange | undefined,
  ): Promise<number> {
    const raw = await this.#host.run(command, (deadline) => this.#host.ownerScript(deadline, this.keys(owner), px, member, kind, change));
    endedBy(change, raw.slice(2));
    return Number(raw[1]);
  }

  async #unindex(index: string, meta: string, members: string[]): Promise<void> {
    for (let i = 0; i < members.length; i += BATCH) {
      const chunk = members.slice(i, i + BATCH);
      await this.#host.run('OWNER INDEX', () => this.#host.eval(OWNER_REMOVE, [index, meta], chunk));
    }
  }

  /**
   * `PTTL` or `DEL` of each key, in batches of `BATCH` commands: one pipeline
   * per batch on standalone; in a Cluster, where the keys spread over every
   * master, one command per key, all of a batch in flight at once.
   */
  async #batch(command: 'PTTL' | 'DEL', keys: string[]): Promise<number[]> {
    const { client, isCluster } = this.#host;
    const name = command === 'PTTL' ? 'pttl' : 'del';
    const replies: number[] = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      const chunk = keys.slice(i, i + BATCH);
      const values = await this.#host.run(command, async () => {
        if (isCluster) return Promise.all(chunk.map((key) => client[name](key)));
        const results = (await client.pipeline(chunk.map((key) => [name, key])).exec()) ?? [];
        return results.map(([err, value]) => {
          if (err) throw err;
          return Number(value);
        });
      });
      replies.push(...values);
    }
    return replies;
  }
}

/**
 * The owner bookkeeping of one write: drop the session from its previous
 * owner, record it under its owner. On standalone the script already knows the
 * session exists when it records it. In a Cluster the owner's node does not:
 * a merge or touch under an unchanged owner then only updates an entry that
 * is there (`xx`), so a late write never re-adds a session that a log out
 * everywhere removed.
 */
export function ownerActions(op: WriteOp, change: OwnerChange | undefined, cluster: boolean): OwnerAction[] {
  if (change === undefined) return [];
  const owner = change.owner === undefined ? undefined : checkOwner(change.owner, 'owner');
  const previous = change.previous === undefined ? undefined : checkOwner(change.previous, 'previous owner');
  const actions: OwnerAction[] = [];
  if (previous !== undefined && previous !== owner) actions.push({ kind: 'remove', owner: previous });
  if (owner === undefined) return actions;
  if (op === 'del') actions.push({ kind: 'remove', owner });
  else if (op === 'set') actions.push({ kind: 'add', owner });
  else if (cluster && previous === owner) actions.push({ kind: op === 'touch' ? 'keepxx' : 'xx', owner });
  else actions.push({ kind: op === 'touch' ? 'keep' : 'add', owner });
  return actions;
}

/** The owner entry's argument of the WRITE script: "stamp:limit:info" (see redis-scripts.ts). */
export function ownerEntry(change: OwnerChange | undefined): string {
  return `${Date.now()}:${change?.limit ?? ''}:${change?.info ?? ''}`;
}

/** Records the session keys an owner's limit ended (the tail of a WRITE reply) on the write's owner change. */
export function endedBy(change: OwnerChange | undefined, keys: Array<number | string>): void {
  if (change === undefined || keys.length === 0) return;
  (change.ended ??= []).push(...keys.map(String));
}

function checkOwner(owner: unknown, what: string): string {
  if (typeof owner !== 'string' || owner === '') {
    throw new TypeError(`RedisStore ${what} must be a non-empty string, got ${describe(owner)}`);
  }
  return owner;
}

/** Where the `n`th colon of `text` is, or -1. */
function nthColon(text: string, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) {
    at = text.indexOf(':', at + 1);
    if (at < 0) return -1;
  }
  return at;
}
