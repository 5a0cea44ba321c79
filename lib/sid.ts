import { randomFillSync } from 'node:crypto';

/** uid2's alphabet: a byte picks `UIDCHARS[byte % 64]`. */
const UIDCHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/**
 * The ids `uid2(length)` makes (same alphabet, same byte-to-character map,
 * bytes from the same CSPRNG), but the random bytes are drawn 4 KiB at a
 * time: a `randomBytes()` call per id costs more than the rest of a new
 * visitor's session. Node's own `crypto.randomUUID()` pools its entropy the
 * same way. Used bytes are zeroed, so the pool never holds an issued id.
 */
export function uid(length: number): string {
  if (length > POOL_SIZE) {
    const bytes = randomFillSync(Buffer.alloc(length));
    let id = '';
    for (let i = 0; i < length; i++) id += UIDCHARS[(bytes[i] as number) & 63];
    return id;
  }
  if (offset + length > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  let id = '';
  for (let i = offset; i < offset + length; i++) id += UIDCHARS[(pool[i] as number) & 63];
  pool.fill(0, offset, offset + length);
  offset += length;
  return id;
}
