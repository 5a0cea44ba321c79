import { createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type Koa from 'koa';

/** The signature `cookies`/keygrip gives `name=value` under `key` (HMAC-SHA1, base64url). */
export function sign(name: string, value: string, key: string): string {
  return createHmac('sha1', key).update(name + '=' + value).digest('base64url');
}

/** `name=value; name.sig=signature` as a browser would send a signed cookie. */
export function signedPair(name: string, value: string, key: string): string {
  return `${name}=${value}; ${name}.sig=${sign(name, value, key)}`;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string[]>;
  body: string;
}

/** Parses one HTTP/1.1 response the server wrote on a `Connection: close` socket. */
function parseResponse(raw: Buffer): RawResponse {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  let body = end === -1 ? '' : text.slice(end + 4);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  if (headers['transfer-encoding']?.[0] === 'chunked') {
    let out = '';
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, nl), 16);
      if (!(size > 0)) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  return { status, headers, body };
}

/**
 * Sends `GET path` with the Cookie header given as raw bytes (so control bytes,
 * bare CR and non-UTF-8 reach the server as they are, which no HTTP client
 * allows) and resolves with the response.
 */
export function rawGet(
  port: number,
  path: string,
  cookie: Buffer | string | undefined,
  timeoutMs = 5000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    // a hung request is a failure of its own, not a mocha timeout
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no response within ${timeoutMs}ms`));
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => resolve(parseResponse(Buffer.concat(chunks))));
    socket.on('error', reject);
    const parts: Buffer[] = [Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`)];
    if (cookie !== undefined) {
      parts.push(Buffer.from('Cookie: '), Buffer.isBuffer(cookie) ? cookie : Buffer.from(cookie, 'latin1'), Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('\r\n'));
    // not end(): Node's server aborts a request whose client half-closes before the answer
    socket.write(Buffer.concat(parts));
  });
}

/** The `name=value` pairs of a response's Set-Cookie headers. */
export function setCookiePairs(res: RawResponse): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const line of res.headers['set-cookie'] ?? []) {
    const pair = line.split(';')[0] as string;
    const eq = pair.indexOf('=');
    pairs.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return pairs;
}

/** A started HTTP server on 127.0.0.1 and a way to stop it. */
export interface Listening {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** Serves `koa` on a free 127.0.0.1 port. `maxHeaderSize` raises Node's 16 KB header limit. */
export async function listen(koa: Koa, options: { maxHeaderSize?: number } = {}): Promise<Listening> {
  const server = http.createServer(options, koa.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Properties that a prototype-pollution payload in these tests tries to plant. */
export const POLLUTION_MARKERS = ['polluted', 'isAdmin', 'sessionPolluted'] as const;

/** Names of the marker properties that some payload managed to put on Object.prototype. */
export function pollution(): string[] {
  const probe: Record<string, unknown> = {};
  const found: string[] = POLLUTION_MARKERS.filter((name) => probe[name] !== undefined);
  if (typeof (Object.prototype as Record<string, unknown>).toString !== 'function') found.push('toString');
  return found;
}
