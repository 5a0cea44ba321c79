import { createHash } from 'node:crypto';
import type { EncodedPatch } from '../session.js';
import { skipSpace, stringEnd, valueEnd } from '../json-text.js';

/** A Lua script and its SHA1, for EVALSHA with a fallback to EVAL. */
export interface RedisScript {
  readonly body: string;
  readonly sha: string;
}

function script(body: string): RedisScript {
  return { body, sha: createHash('sha1').update(body).digest('hex') };
}

/**
 * How long past its score an owner-index member is kept before a read or a
 * write prunes it, in ms. In a Cluster the score is set by the owner's node
 * and the session expires on another node: the margin absorbs clock skew
 * between them, so a live session is never pruned from its owner's index.
 * Lists never show an expired session anyway: they check each session key.
 */
export const OWNER_PRUNE_GRACE_MS = 1000;

/** Members pruned by one write at most, so a write never stalls Redis behind a big backlog. */
const PRUNE_PER_WRITE = 100;

// Scripts that call TIME before writing need effects replication on Redis < 5.
const CLOCK = `if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const PRUNE = `local function prune(z, meta, limit)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. (now - ${OWNER_PRUNE_GRACE_MS}), 'LIMIT', 0, limit)
  for _, m in ipairs(old) do
    redis.call('ZREM', z, m)
    redis.call('HDEL', meta, m)
  end
  return #old
end
`;

/**
 * Splices a patch into the stored JSON object without decoding any value:
 * the stored text is scanned only to find where each top-level member starts
 * and ends (strings, nesting), untouched members are copied byte for byte,
 * and the patch's members arrive already serialized by JSON.stringify in
 * Node. Redis's cjson is used only to compare member names written with
 * escapes (another writer's `"\\u00e9"` is the patch's `"é"`); it never sees a
 * value, so nothing is re-encoded (cjson would turn [] into {}, round big
 * numbers and re-escape strings).
 */
const SPLICE = `local function strend(s, i)
  local j = i + 1
  while true do
    local k = string.find(s, '"', j, true)
    if not k then return nil end
    local b = k - 1
    while string.byte(s, b) == 92 do b = b - 1 end
    if (k - 1 - b) % 2 == 0 then return k end
    j = k + 1
  end
end
local function valend(s, i)
  local c = string.byte(s, i)
  if c == 34 then return strend(s, i) end
  if c == 123 or c == 91 then
    local stack, j = {}, i
    while true do
      local k = string.find(s, '[%[%]{}"]', j)
      if not k then return nil end
      local b = string.byte(s, k)
      if b == 34 then
        k = strend(s, k)
        if not k then return nil end
      elseif b == 123 or b == 91 then
        stack[#stack + 1] = b + 2
      else
        if stack[#stack] ~= b then return nil end
        stack[#stack] = nil
        if #stack == 0 then return k end
      end
      j = k + 1
    end
  end
  local _, e = string.find(s, '^[%w%.%+%-]+', i)
  return e
end
local function ws(s, i)
  return (string.find(s, '[^ \\t\\n\\r]', i))
end
local function members(s)
  local i = ws(s, 1)
  if not i or string.byte(s, i) ~= 123 then return nil end
  local list = {}
  i = ws(s, i + 1)
  if not i then return nil end
  if string.byte(s, i) == 125 then
    if ws(s, i + 1) then return nil end
    return list
  end
  while true do
    if string.byte(s, i) ~= 34 then return nil end
    local ke = strend(s, i)
    if not ke then return nil end
    local colon = ws(s, ke + 1)
    if not colon or string.byte(s, colon) ~= 58 then return nil end
    local v = ws(s, colon + 1)
    if not v then return nil end
    local ve = valend(s, v)
    if not ve then return nil end
    list[#list + 1] = { string.sub(s, i, ke), i, ve }
    local n = ws(s, ve + 1)
    if not n then return nil end
    local b = string.byte(s, n)
    if b == 125 then
      if ws(s, n + 1) then return nil end
      return list
    end
    if b ~= 44 then return nil end
    i = ws(s, n + 1)
    if not i then return nil end
  end
end
local function name(k)
  if not string.find(k, '\\\\', 1, true) then return string.sub(k, 2, -2) end
  local ok, d = pcall(cjson.decode, k)
  if ok and type(d) == 'string' then return d end
  return '\\255' .. k
end
local function splice(stored, at)
  local list = members(stored)
  if not list then return nil end
  local sets, order, drop = {}, {}, {}
  local count = tonumber(ARGV[at])
  for i = 1, count do
    local k = ARGV[at + 2 * i - 1]
    local id = name(k)
    if not sets[id] then order[#order + 1] = id end
    sets[id] = k .. ':' .. ARGV[at + 2 * i]
  end
  for i = at + 2 * count + 1, #ARGV do drop[name(ARGV[i])] = true end
  local out, done = {}, {}
  for _, m in ipairs(list) do
    local id = name(m[1])
    if drop[id] then
    elseif sets[id] then
      if not done[id] then
        out[#out + 1] = sets[id]
        done[id] = true
      end
    else
      out[#out + 1] = string.sub(stored, m[2], m[3])
    end
  end
  for _, id in ipairs(order) do
    if not done[id] and not drop[id] then out[#out + 1] = sets[id] end
  end
  return '{' .. table.concat(out, ',') .. '}'
end
`;

/**
 * One owner-index action on a sorted set (member: session key, score: expiry
 * in the server's ms, +inf for none) and its hash (member:
 * "createdAt:savedAt:lastSeenAt[:info]", the app's clock; info is the device
 * info's JSON, kept from the previous write when this one carries none).
 * Kinds: `add` records a save (created on first sight), `keep` a ttl change
 * (savedAt kept), `xx`/`keepxx` the same only when the member is already
 * there (Cluster: a late write must not re-add a session a
 * log-out-everywhere removed), `remove` drops it. Returns 1 when the member
 * was there before, else 0. A member new to the owner, with a `limit`, ends
 * the owner's members seen least recently until `limit` remain (LIMIT).
 */
const OWNER = `local function owner(kind, z, meta, member, score, stamp, info, limit, evict, ended)
  prune(z, meta, ${PRUNE_PER_WRITE})
  if kind == 'remove' then
    redis.call('ZREM', z, member)
    redis.call('HDEL', meta, member)
    return 1
  end
  local present = redis.call('ZSCORE', z, member) ~= false
  if not present and (kind == 'xx' or kind == 'keepxx') then return 0 end
  redis.call('ZADD', z, score, member)
  local times = present and redis.call('HGET', meta, member) or false
  local created, saved, old = stamp, stamp, ''
  if times then
    local c, s, rest = string.match(times, '^(%d+):(%d+)(.*)$')
    if c then
      created = c
      if kind == 'keep' or kind == 'keepxx' then saved = s end
      old = string.match(rest, '^:%d+:(.*)$') or ''
    end
  end
  if info == '' then info = old end
  local value = created .. ':' .. saved .. ':' .. stamp
  if info ~= '' then value = value .. ':' .. info end
  redis.call('HSET', meta, member, value)
  if not present and limit then enforce(z, meta, member, limit, evict, ended) end
  return present and 1 or 0
end
`;

/**
 * Keeps an owner at `limit` members once `member` joined: the others seen
 * least recently (lastSeenAt, then key) leave the index and go into `ended`.
 * With `evict` (standalone and Sentinel, where the script may reach every
 * key) their sessions are deleted in the same script, and members whose
 * session is already gone are dropped without counting; in a Cluster the
 * sessions live on other nodes, and the caller deletes them.
 */
const LIMIT = `local function enforce(z, meta, member, limit, evict, ended)
  if redis.call('ZCARD', z) <= limit then return end
  local list = {}
  for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    if m ~= member then
      if evict and redis.call('EXISTS', m) == 0 then
        redis.call('ZREM', z, m)
        redis.call('HDEL', meta, m)
      else
        local t = redis.call('HGET', meta, m) or ''
        local seen = string.match(t, '^%d+:%d+:(%d+)') or string.match(t, '^%d+:(%d+)') or '0'
        list[#list + 1] = { m, tonumber(seen) }
      end
    end
  end
  table.sort(list, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  for i = 1, #list + 1 - limit do
    local m = list[i][1]
    redis.call('ZREM', z, m)
    redis.call('HDEL', meta, m)
    if evict then redis.call('DEL', m) end
    ended[#ended + 1] = m
  end
end
`;

/**
 * Every write of the store, as one atomic script.
 *
 * KEYS: the session key (absent for op `none`), then a sorted set and a hash
 * per owner action.
 * ARGV: op (`set` | `merge` | `touch` | `del` | `none`; `+` after `set`,
 * `merge` or `touch` for a caller whose connection Redis tracks), deadline (server ms,
 * '' for none), px ('' for none), member (the session key), the owner
 * entry's "stamp:limit:info" (app ms; the owner's session limit or '';
 * the device info's JSON or ''), action count n, n action kinds, then for `set` the value; for `merge` the
 * text the caller built on (a JSON object, so it starts with '{'; its SHA1
 * for a long one; '' for none), the result it wants stored when Redis holds
 * that text still, then optionally the patch: m, m pairs (member name JSON,
 * value JSON), then names to delete.
 *
 * A merge whose base is what Redis holds stores the caller's result as it is.
 * Otherwise another write got there first: without a patch the script
 * returns what it holds, for the caller to splice onto in Node and try again
 * (scanning JSON in Lua costs Redis far more time than a second round trip
 * costs it); with a patch it splices the patch itself (SPLICE), so a second
 * try always lands.
 *
 * Returns { code, present per action, then the keys a limit ended }: code 1 applied (a merge: the caller's
 * result), 2 a merge applied by SPLICE, 3 a merge that found another text
 * (then { 3, that text }: nothing written), 0 refused (deadline passed:
 * nothing written), -1 the session key does not exist (merge, touch: nothing
 * written), -2 the stored value is not a JSON object (merge: nothing
 * written); for `del`, how many keys it deleted. Owner actions run only when
 * the write goes ahead, and before the session write, so an error in them
 * leaves the session untouched.
 */
export const WRITE = script(`${CLOCK}-- Lua creates a closure per function definition on every call: these are made only when needed
local function splicer()
${SPLICE}  return splice
end
local function ownership()
${PRUNE}${LIMIT}${OWNER}  return owner
end
local op, deadline, px, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- 'set+', 'merge+', 'touch+': the caller caches the session; its read at the end keeps Redis tracking the key for it
local track = string.byte(op, -1) == 43
if track then op = string.sub(op, 1, -2) end
if deadline ~= '' and now > tonumber(deadline) then return { 0 } end
local n = tonumber(ARGV[6])
local value
local code = 1
if op == 'merge' then
  local stored = redis.call('GET', KEYS[1])
  if not stored then return { -1 } end
  local loaded, same = ARGV[7 + n], false
  if string.byte(loaded) == 123 then
    same = stored == loaded
  elseif loaded ~= '' then
    same = redis.sha1hex(stored) == loaded
  end
  if same then
    value = ARGV[8 + n]
  elseif #ARGV < 9 + n then
    -- no patch sent: the caller splices onto what is stored and tries again
    return { 3, stored }
  else
    value = splicer()(stored, 9 + n)
    code = 2
  end
  if not value then return { -2 } end
elseif op == 'set' then
  value = ARGV[7 + n]
elseif op == 'touch' then
  if redis.call('PEXPIRE', KEYS[1], px) == 0 then return { -1 } end
elseif op == 'del' then
  code = redis.call('DEL', KEYS[1])
end
local result = { code }
if n > 0 then
  local owner, base = ownership(), op == 'none' and 0 or 1
  local score = px == '' and '+inf' or tostring(now + tonumber(px))
  local stamp, limit, info = string.match(ARGV[5], '^(%d+):(%d*):(.*)$')
  local ended = {}
  for i = 1, n do
    result[i + 1] = owner(ARGV[6 + i], KEYS[base + 2 * i - 1], KEYS[base + 2 * i], member, score, stamp, info, tonumber(limit), op ~= 'none', ended)
  end
  for _, m in ipairs(ended) do result[#result + 1] = m end
end
if value then
  if px == '' then redis.call('SET', KEYS[1], value) else redis.call('SET', KEYS[1], value, 'PX', px) end
end
-- a write ends every client's tracking of the key, the writer's too: read it again so Redis keeps telling us of changes
if track then redis.call('EXISTS', KEYS[1]) end
return result`);

/**
 * An owner's members (KEYS: sorted set, hash). ARGV[1] 'prune' first drops
 * members past their score (plus the grace); ARGV[2] 'meta' adds the hash.
 * Returns { members, hash as a flat list }.
 */
/** hashIds migration on one server: the session at KEYS[2] if any, else KEYS[1] renamed to KEYS[2] (its ttl kept). */
export const MOVE = script(`local v = redis.call('GET', KEYS[2])
if v then return v end
v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('RENAME', KEYS[1], KEYS[2])
return v
`);

/** A value and its ttl in one step (a Cluster migration, whose two keys live in different slots). */
export const GET_PTTL = script(`local v = redis.call('GET', KEYS[1])
if not v then return false end
return {v, redis.call('PTTL', KEYS[1])}
`);

export const OWNER_READ = script(`${CLOCK}${PRUNE}if ARGV[1] == 'prune' then
  while prune(KEYS[1], KEYS[2], 1000) == 1000 do end
end
local list = redis.call('ZRANGE', KEYS[1], 0, -1)
if ARGV[2] == 'meta' then return { list, redis.call('HGETALL', KEYS[2]) } end
return { list, {} }`);

/** Drops the members in ARGV from an owner's index (KEYS: sorted set, hash). */
export const OWNER_REMOVE = script(`for i = 1, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return #ARGV`);

/* ---- the same splice in Node ---- */

/** A member name's identity: its decoded value (JSON.parse only when it has escapes). */
function nameOf(nameJson: string): string | undefined {
  if (!nameJson.includes('\\')) return nameJson.slice(1, -1);
  try {
    return JSON.parse(nameJson) as string;
  } catch {
    return undefined;
  }
}

/**
 * SPLICE in Node, for a merge that found another write's text in Redis (the
 * script answers it; the result goes back as the second try): `text` with the
 * patch applied.
 * Runs of untouched members are copied as they are, changed members are
 * replaced where they stand, deleted ones cut out, new ones appended in patch
 * order. Null when `text` is not one JSON object: it is what Redis held,
 * written by anyone, so JSON.parse checks it first (a conflict is rare, and
 * the scan below then only counts brackets, without matching them by kind).
 */
export function spliceJson(text: string, patch: EncodedPatch): string | null {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  } catch {
    return null;
  }
  const sets = new Map<string, string>();
  for (const [nameJson, valueJson] of patch.set) sets.set(nameOf(nameJson)!, nameJson + ':' + valueJson);
  const drop = new Set<string>();
  for (const nameJson of patch.unset) drop.add(nameOf(nameJson)!);
  const pieces: string[] = [];
  const done = new Set<string>();
  // the current run of untouched members, copied in one slice
  let run = -1;
  let runEnd = -1;
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== 123) return null;
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === 125) {
    if (skipSpace(text, i + 1) !== text.length) return null;
  } else {
    for (;;) {
      if (text.charCodeAt(i) !== 34) return null;
      const nameEnd = stringEnd(text, i);
      if (nameEnd < 0) return null;
      const colon = skipSpace(text, nameEnd + 1);
      if (text.charCodeAt(colon) !== 58) return null;
      const end = valueEnd(text, skipSpace(text, colon + 1));
      if (end < 0) return null;
      const name = nameOf(text.slice(i, nameEnd + 1));
      if (name === undefined) return null;
      const member = drop.has(name) ? null : sets.get(name);
      if (member === undefined) {
        if (run < 0) run = i;
        runEnd = end;
      } else {
        if (run >= 0) pieces.push(text.slice(run, runEnd + 1));
        run = -1;
        if (member !== null && !done.has(name)) {
          pieces.push(member);
          done.add(name);
        }
      }
      const next = skipSpace(text, end + 1);
      const c = text.charCodeAt(next);
      if (c === 125) {
        if (skipSpace(text, next + 1) !== text.length) return null;
        break;
      }
      if (c !== 44) return null;
      i = skipSpace(text, next + 1);
    }
  }
  if (run >= 0) pieces.push(text.slice(run, runEnd + 1));
  for (const [name, member] of sets) if (!done.has(name) && !drop.has(name)) pieces.push(member);
  return '{' + pieces.join(',') + '}';
}
