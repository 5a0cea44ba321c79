/**
 * A TCP proxy in front of a test's own redis-server, for orders of events a
 * real server alone cannot be made to produce on demand: a reply that
 * arrives only after something else happened (`holdReplies`), or a new
 * connection that stays unanswered while the test acts (`holdNew`). Bytes
 * are passed on unchanged; each connection remembers what its client sent,
 * so a test can find a connection by the name it gave itself
 * (`CLIENT SETNAME`).
 *
 * @example
 * const proxy = await RedisProxy.start(redis.port);
 * const store = new RedisStore({ url: proxy.url, connectionName: 'app' });
 * const conn = proxy.find((c) => c.sent.includes('app') && !c.sent.includes(':invalidations:'));
 * conn.holdReplies();          // Redis runs what the store sends; the store sees no reply yet
 * ...
 * conn.releaseReplies();
 */
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { HOST } from './redis.js';

/** The most client text a connection keeps for `find`: names are sent first, so the start is enough. */
const SENT_KEPT = 64 * 1024;

export class ProxyConnection extends EventEmitter {
  readonly #client: net.Socket;
  #upstream: net.Socket | undefined;
  #sent = '';
  #held: Buffer[] | undefined;
  #closed = false;

  /** Replies are held from the moment what the client sent matches this (see RedisProxy#holdRepliesWhen). */
  #holdWhen: ((sent: string) => boolean) | undefined;

  readonly #rewrite: ((text: string) => string) | undefined;

  constructor(client: net.Socket, holdWhen: ((sent: string) => boolean) | undefined, rewrite: ((text: string) => string) | undefined) {
    super();
    this.#client = client;
    this.#holdWhen = holdWhen;
    this.#rewrite = rewrite;
    client.on('error', () => this.close());
    client.on('close', () => this.close());
  }

  /** What the client sent so far (its start), as text. */
  get sent(): string {
    return this.#sent;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes of replies kept back since `holdReplies()`. */
  get heldBytes(): number {
    return (this.#held ?? []).reduce((n, chunk) => n + chunk.length, 0);
  }

  /** Replies from Redis are kept back (the commands still reach Redis and run); emits `held` for each chunk kept. */
  holdReplies(): void {
    this.#held ??= [];
  }

  /** Passes on what was kept back, and everything after it. */
  releaseReplies(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const chunk of held) if (!this.#closed) this.#client.write(chunk);
  }

  /** Connects to Redis and starts passing bytes both ways, `first` (what the client sent already) first. */
  link(targetPort: number, first?: Buffer): void {
    if (this.#closed) return;
    const upstream = net.createConnection({ host: HOST, port: targetPort });
    this.#upstream = upstream;
    upstream.on('error', () => this.close());
    upstream.on('close', () => this.close());
    upstream.on('data', (data: Buffer) => {
      const chunk = this.#rewrite === undefined ? data : Buffer.from(this.#rewrite(data.toString('latin1')), 'latin1');
      if (this.#held !== undefined) {
        this.#held.push(chunk);
        this.emit('held', chunk);
      } else {
        this.#client.write(chunk);
      }
    });
    const forward = (chunk: Buffer) => {
      if (this.#sent.length < SENT_KEPT) this.#sent += chunk.toString('latin1');
      // before the command goes on: its reply is the first one kept
      if (this.#holdWhen?.(this.#sent)) {
        this.#holdWhen = undefined;
        this.holdReplies();
      }
      upstream.write(chunk);
    };
    if (first !== undefined) forward(first);
    this.#client.on('data', forward);
    this.#client.resume();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
    this.#upstream?.destroy();
    this.emit('close');
  }
}

export interface RedisProxyOptions {
  /** Picks the redis-server port for each new connection from the first bytes its client sends. */
  route?: (firstSent: string) => number;
  /**
   * Rewrites what Redis answers, chunk by chunk, as latin1 text (one char per
   * byte); keep lengths, or the replies no longer parse.
   */
  rewriteReplies?: (text: string) => string;
}

export class RedisProxy {
  readonly #server: net.Server;
  readonly #targetPort: number;
  readonly #options: RedisProxyOptions;
  readonly connections: ProxyConnection[] = [];
  /** Connections accepted while `holdNew()` is on: not yet linked to Redis. */
  #waiting: ProxyConnection[] | undefined;
  #holdWhen: ((sent: string) => boolean) | undefined;

  private constructor(server: net.Server, targetPort: number, options: RedisProxyOptions) {
    this.#server = server;
    this.#targetPort = targetPort;
    this.#options = options;
  }

  /**
   * A proxy to `targetPort`; with `route`, each connection goes to the port
   * `route` picks from the first bytes its client sends (ioredis sends
   * `CLIENT SETNAME` first when it has a connectionName).
   */
  static async start(targetPort: number, options: RedisProxyOptions = {}): Promise<RedisProxy> {
    const server = net.createServer({ pauseOnConnect: true });
    const proxy = new RedisProxy(server, targetPort, options);
    server.on('connection', (socket) => proxy.#accept(socket));
    server.listen(0, HOST);
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  /** New connections are accepted but not linked to Redis until `releaseNew()`: their clients wait for every reply. */
  holdNew(): void {
    this.#waiting ??= [];
  }

  releaseNew(): void {
    const waiting = this.#waiting ?? [];
    this.#waiting = undefined;
    for (const conn of waiting) conn.link(this.#targetPort);
  }

  /**
   * A connection made from now on holds its replies (`holdReplies()`) from
   * the first command that makes what its client sent match `match`: that
   * command runs, its reply waits for `releaseReplies()`.
   */
  holdRepliesWhen(match: (sent: string) => boolean): void {
    this.#holdWhen = match;
  }

  /** How many connections wait in `holdNew()`. */
  get waiting(): number {
    return this.#waiting?.filter((conn) => !conn.closed).length ?? 0;
  }

  /** The open connection matching `match`, or undefined. */
  find(match: (conn: ProxyConnection) => boolean): ProxyConnection | undefined {
    return this.connections.find((conn) => !conn.closed && match(conn));
  }

  async close(): Promise<void> {
    this.#waiting = undefined;
    for (const conn of this.connections) conn.close();
    const closed = once(this.#server, 'close');
    this.#server.close();
    await closed;
  }

  #accept(socket: net.Socket): void {
    const conn = new ProxyConnection(socket, this.#holdWhen, this.#options.rewriteReplies);
    this.connections.push(conn);
    const route = this.#options.route;
    if (this.#waiting !== undefined) {
      this.#waiting.push(conn);
    } else if (route !== undefined) {
      socket.once('data', (first: Buffer) => {
        socket.pause();
        conn.link(route(first.toString('latin1')), first);
      });
      socket.resume();
    } else {
      conn.link(this.#targetPort);
    }
  }
}
