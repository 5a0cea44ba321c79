import type { Session, SessionCookie, SessionPatch } from './types.js';
import { stringEnd, valueEnd } from './json-text.js';

/** The cookie attributes `cookies.set()` understands; anything else in `session.cookie` is ignored. */
export const COOKIE_ATTRIBUTES = [
  'maxAge',
  'expires',
  'path',
  'domain',
  'secure',
  'httpOnly',
  'sameSite',
  'signed',
  'overwrite',
  'priority',
  'partitioned',
  // deprecated in `cookies`, which still honours it (and says so): koa-generic-session passed it on
  'secureProxy',
] as const;

export type CookieSetOptions = Partial<Record<(typeof COOKIE_ATTRIBUTES)[number], unknown>>;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Sessions parseSession() built: fresh JSON.parse output, so plain objects at
 * every depth, already checked. The middleware skips its walk for them, which
 * keeps MemoryStore and RedisStore reads at the cost of a text search.
 */
const parsedSessions = new WeakSet<object>();

/** Marks what refusal means inside the walk (a value no session can hold). */
const REFUSED = Symbol('refused');

/** `constructor: { prototype }`: what a deep merge turns into `Object.prototype` pollution. */
function holdsPrototype(value: unknown): boolean {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && hasOwn.call(value, 'prototype');
}

/**
 * Whether stored JSON text may hold a polluting key: JSON.parse makes
 * `__proto__` an own key, and a `\u` escape can spell either name.
 */
function mayPollute(json: string): boolean {
  return json.includes('__proto__') || json.includes('constructor') || json.includes('\\u');
}

/**
 * Keys that turn a later `Object.assign` or deep merge of the session into
 * prototype pollution. JSON.parse itself makes them harmless own properties,
 * so this walk runs only when the text mentions them at all.
 */
function hasPollutingKey(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (key === '__proto__' || (key === 'constructor' && holdsPrototype(item))) return true;
    if (hasPollutingKey(item)) return true;
  }
  return false;
}

/**
 * `value` as the app may hold it: the same value when every object in it is
 * plain, else a copy in which each object or array without prototype is a
 * plain one, so `hasOwnProperty` and friends work at every depth. Other
 * objects (Date, Buffer, a store's own classes) are kept as they are and not
 * entered. REFUSED when it holds a polluting key.
 * Nothing is changed in place: the store may share or freeze what it returned.
 */
function plainValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const arrayProto: unknown = Object.getPrototypeOf(value);
    if (arrayProto !== Array.prototype && arrayProto !== null) return value;
    let copy = arrayProto === null ? Array.from(value as ArrayLike<unknown>) : undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const plain = plainValue(item);
      if (plain === REFUSED) return REFUSED;
      if (plain !== item) (copy ??= value.slice())[i] = plain;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const object = value as Record<string, unknown>;
  // own, enumerable or not (Object.prototype itself holds a `constructor` with a `prototype`)
  if (hasOwn.call(object, '__proto__') || (hasOwn.call(object, 'constructor') && holdsPrototype(object.constructor))) {
    return REFUSED;
  }
  // spread defines own properties, so the copy cannot gain a prototype either
  let copy = proto === null ? { ...object } : undefined;
  for (const key of Object.keys(object)) {
    const item = object[key];
    const plain = plainValue(item);
    if (plain === REFUSED) return REFUSED;
    if (plain !== item) (copy ??= { ...object })[key] = plain;
  }
  return copy ?? value;
}

/**
 * Parses stored JSON into a session, or returns null when it is not a plain
 * object, is not JSON, or carries a prototype-polluting key at any depth.
 * Revives `cookie.expires` as a Date.
 */
export function parseSession(json: string): Session | null {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return null;
  }
  try {
    if (mayPollute(json) && hasPollutingKey(data)) return null;
  } catch {
    // nested deeper than the stack: no session is
    return null;
  }
  if (!isPlainObject(data)) return null;
  const session = checkedCookie(data, true);
  if (session !== null) parsedSessions.add(session);
  return session;
}

/**
 * Validates what a store returned: null unless it is a plain object with no
 * prototype-polluting key at any depth (`__proto__`, or `constructor` holding
 * `prototype`), and a usable `cookie`. Null-prototype objects, at any depth,
 * come back as plain ones. Revives `cookie.expires` as a Date.
 */
export function toSession(data: unknown): Session | null {
  if (data !== null && typeof data === 'object' && parsedSessions.has(data)) return data as Session;
  if (!isPlainObject(data)) return null;
  let plain: unknown;
  try {
    plain = plainValue(data);
  } catch {
    // a getter that throws, a cycle, nesting deeper than the stack
    return null;
  }
  return plain === REFUSED ? null : checkedCookie(plain as Record<string, unknown>, false);
}

/**
 * The session when its `cookie` is absent or usable, else null. A string
 * `expires` is revived as a Date: in place when `own` (nobody else holds the
 * object), else in a copy (a store may share or freeze what it returned).
 */
function checkedCookie(data: Record<string, unknown>, own: boolean): Session | null {
  const stored = data.cookie;
  if (stored === undefined || stored === null) return data as Session;
  if (!isPlainObject(stored)) return null;
  let cookie = stored;
  const expires = cookie.expires;
  if (typeof expires === 'string' || typeof expires === 'number') {
    const date = new Date(expires);
    if (Number.isNaN(date.getTime())) return null;
    if (own) {
      cookie.expires = date;
    } else {
      cookie = { ...cookie, expires: date };
      data = { ...data, cookie };
    }
  }
  return storedCookieIsValid(cookie) ? (data as Session) : null;
}

/** Whether a stored session's `cookie.expires` has passed (a session without one never expires this way). */
export function hasExpired(session: Session, now = Date.now()): boolean {
  const expires: unknown = session.cookie?.expires;
  return expires instanceof Date && expires.getTime() <= now;
}

// the values `cookies.set()` accepts (cookies 0.9 index.js); anything else would make it throw on the
// next save, a 500 on every request of that user until the session expires
const COOKIE_PATH = /^[ -:=-~]*$/;
const COOKIE_DOMAIN = /^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const COOKIE_BOOLEANS = ['secure', 'httpOnly', 'signed', 'overwrite', 'partitioned'] as const;

/** Whether a stored `session.cookie`'s known attributes are values `cookies.set()` takes (null means unset). */
function storedCookieIsValid(cookie: Record<string, unknown>): boolean {
  const { maxAge, maxage, expires, path, domain, sameSite, priority } = cookie;
  for (const ms of [maxAge, maxage]) {
    if (ms != null && !(typeof ms === 'number' && Number.isFinite(ms))) return false;
  }
  if (expires != null && !(expires instanceof Date && !Number.isNaN(expires.getTime()))) return false;
  if (path != null && !(typeof path === 'string' && COOKIE_PATH.test(path))) return false;
  if (domain != null && !(typeof domain === 'string' && COOKIE_DOMAIN.test(domain))) return false;
  if (sameSite != null && typeof sameSite !== 'boolean' && !(typeof sameSite === 'string' && /^(?:lax|none|strict)$/i.test(sameSite))) {
    return false;
  }
  if (priority != null && !(typeof priority === 'string' && /^(?:low|medium|high)$/i.test(priority))) return false;
  return COOKIE_BOOLEANS.every((name) => cookie[name] == null || typeof cookie[name] === 'boolean');
}

/** Copies only the known cookie attributes, so a stored `__proto__` or junk key never reaches `cookies`. */
export function cookieSetOptions(cookie: SessionCookie): CookieSetOptions {
  const options: CookieSetOptions = {};
  for (const name of COOKIE_ATTRIBUTES) {
    const value = cookie[name];
    if (value !== undefined && value !== null) options[name] = value;
  }
  return options;
}

/**
 * The session as the store and the cookie need it: the session itself when
 * it has its cookie options, else a copy with `cookie` (the configured
 * options) added. The app's object never gains a key it did not put there:
 * `ctx.session = { foo: 'bar' }; ctx.body = ctx.session` answers
 * `{"foo":"bar"}`, as in koa-generic-session. The copy keeps the prototype,
 * so a class's toJSON still applies.
 */
export function withCookie(session: Session, cookie: SessionCookie): Session {
  if (isPlainObject(session.cookie)) return session;
  const copy = Object.create(Object.getPrototypeOf(session) as object | null) as Record<string, unknown>;
  for (const key of Object.keys(session)) {
    Object.defineProperty(copy, key, { value: (session as Record<string, unknown>)[key], enumerable: true, writable: true, configurable: true });
  }
  Object.defineProperty(copy, 'cookie', { value: { ...cookie }, enumerable: true, writable: true, configurable: true });
  return copy as Session;
}

/** connect's `maxage` spelling becomes `maxAge`, as koa-generic-session does on every save. */
export function compatMaxAge(cookie: SessionCookie): void {
  if (!hasOwn.call(cookie, 'maxage')) return;
  if (cookie.maxage) cookie.maxAge = cookie.maxage;
  delete cookie.maxage;
}

/**
 * The store ttl in ms for a session: the `ttl` option (a number, or a function
 * of the session), else `cookie.expires`, else `cookie.maxAge`; undefined when
 * none applies (no expiry).
 */
export function sessionTtl(
  ttlOption: number | ((session: Session) => number | null | undefined) | undefined,
  session: Session,
): number | undefined {
  let ttl: unknown = typeof ttlOption === 'function' ? ttlOption(session) : ttlOption;
  // koa-generic-session tests `if (!ttl)`: 0, false, '' and NaN mean "from the cookie" there, and
  // apps that wrote `ttl: 0` for that keep their sessions here too
  if (!ttl) {
    const cookie = session.cookie;
    if (cookie.expires !== undefined && cookie.expires !== null) {
      ttl = Math.ceil(new Date(cookie.expires).getTime() - Date.now());
    } else if (typeof cookie.maxAge === 'number') {
      ttl = cookie.maxAge;
    } else {
      return undefined;
    }
  }
  if (typeof ttl !== 'number' || Number.isNaN(ttl)) {
    throw new TypeError(
      `session ttl must be a number of ms, got ${typeof ttl === 'number' ? 'NaN' : typeof ttl}: ` +
        'check the ttl option (a function must return a number, null or undefined) and cookie.expires',
    );
  }
  return ttl === Infinity ? undefined : Math.ceil(ttl);
}

/**
 * The top-level members of an object's JSON text as JSON.stringify writes it
 * (no whitespace), from the member starting at `from` on, as name JSON ->
 * value JSON, in order. Nothing is decoded: JSON.stringify escapes a name the
 * same way every time, so the name's text is its identity.
 */
function jsonMembers(text: string, from = 1): Map<string, string> {
  const members = new Map<string, string>();
  let i = from;
  if (text.charCodeAt(i) === 125) return members;
  for (;;) {
    const nameEnd = stringEnd(text, i);
    const start = nameEnd + 2;
    const end = valueEnd(text, start);
    members.set(text.slice(i, nameEnd + 1), text.slice(start, end + 1));
    if (text.charCodeAt(end + 1) !== 44) return members;
    i = end + 2;
  }
}

/**
 * Where the first member that may differ starts: the members (with the comma
 * after them) that lie inside the prefix both texts share are the same in
 * both, so a diff can skip them. Both texts have a member there, or neither.
 */
function firstDifference(base: string, json: string): number {
  const limit = Math.min(base.length, json.length);
  let shared = 0;
  while (shared < limit && base.charCodeAt(shared) === json.charCodeAt(shared)) shared++;
  let from = 1;
  if (json.charCodeAt(1) === 125 || base.charCodeAt(1) === 125) return from;
  for (;;) {
    const end = valueEnd(json, stringEnd(json, from) + 2);
    if (end + 1 >= shared || json.charCodeAt(end + 1) !== 44) return from;
    from = end + 2;
  }
}

/** A patch as JSON text: [name JSON, value JSON] pairs to set, and the name JSON of members to delete. */
export interface EncodedPatch {
  set: Array<[string, string]>;
  unset: string[];
}

/**
 * The top-level members a request set, changed or deleted, compared text to
 * text: `json` (the session now) against `base` (the JSON it was loaded
 * from), both written by JSON.stringify. With `all`, every present member is
 * set (a forced save), and deletions still count.
 */
export function diffJson(base: string, json: string, all: boolean): EncodedPatch {
  const from = all ? 1 : firstDifference(base, json);
  const before = jsonMembers(base, from);
  const set: Array<[string, string]> = [];
  const unset: string[] = [];
  const after = jsonMembers(json, from);
  for (const [name, value] of after) if (all || before.get(name) !== value) set.push([name, value]);
  for (const name of before.keys()) if (!after.has(name)) unset.push(name);
  return { set, unset };
}

const decodeName = (nameJson: string): string =>
  nameJson.includes('\\') ? (JSON.parse(nameJson) as string) : nameJson.slice(1, -1);

/** The patch form of `diffJson`: keys set (with the session's values) and keys deleted. */
export function diffSession(base: string, session: Session, all: boolean, json = JSON.stringify(session)): SessionPatch {
  const diff = diffJson(base, json, all);
  const set = Object.create(null) as Record<string, unknown>;
  for (const [nameJson] of diff.set) {
    const name = decodeName(nameJson);
    set[name] = (session as Record<string, unknown>)[name];
  }
  return { set, unset: diff.unset.map(decodeName) };
}

/**
 * What the middleware hands a store's merge(): the patch, with the texts it
 * comes from (`base`, `json`). `set` and `unset` are computed on first read,
 * so a store that finds `base` stored as it is writes `json` and never pays
 * for them. They are getters on the prototype (an object literal with own
 * accessors costs ~60 times as much to create, measured); `toJSON()` gives
 * all four as plain data.
 */
class SessionChange implements SessionPatch {
  readonly base: string;
  readonly json: string;
  readonly #session: Session;
  readonly #all: boolean;
  #diff: SessionPatch | undefined;

  constructor(base: string, session: Session, all: boolean, json: string) {
    this.base = base;
    this.json = json;
    this.#session = session;
    this.#all = all;
  }

  get set(): Record<string, unknown> {
    return this.#computed().set;
  }

  get unset(): string[] {
    return this.#computed().unset;
  }

  /** Whether this is a forced save (`saveSession()`): every member counts as set. */
  get forced(): boolean {
    return this.#all;
  }

  toJSON(): { set: Record<string, unknown>; unset: string[]; base: string; json: string } {
    return { set: this.set, unset: this.unset, base: this.base, json: this.json };
  }

  #computed(): SessionPatch {
    return (this.#diff ??= diffSession(this.base, this.#session, this.#all, this.json));
  }
}

/** The patch the middleware hands a store's merge() (see SessionChange). */
export function sessionChange(base: string, session: Session, all: boolean, json: string): SessionPatch {
  return new SessionChange(base, session, all, json);
}

/** A patch sessionChange() made, with its texts and whether it was a forced save; undefined for any other patch. */
export function changeTexts(patch: SessionPatch): { readonly base: string; readonly json: string; readonly forced: boolean } | undefined {
  return patch instanceof SessionChange ? patch : undefined;
}

/**
 * A patch as JSON text, values serialized as a whole-session save would
 * write them (a member JSON.stringify drops is deleted). A patch made by
 * sessionChange() is diffed from its texts, without serializing anything.
 */
export function encodePatch(patch: SessionPatch): EncodedPatch {
  const texts = changeTexts(patch);
  if (texts !== undefined) return diffJson(texts.base, texts.json, texts.forced);
  const set: Array<[string, string]> = [];
  const unset: string[] = [];
  for (const name of Object.keys(patch.set)) {
    const holder = {};
    Object.defineProperty(holder, name, { value: patch.set[name], enumerable: true });
    const member = JSON.stringify(holder).slice(1, -1);
    const nameJson = JSON.stringify(name);
    if (member === '') unset.push(nameJson);
    else set.push([nameJson, member.slice(nameJson.length + 1)]);
  }
  for (const name of patch.unset) unset.push(JSON.stringify(name));
  return { set, unset };
}

/** Applies a patch to a plain object in place; `__proto__` and friends stay ordinary keys. */
export function applyPatch(target: Record<string, unknown>, patch: SessionPatch): void {
  for (const key of Object.keys(patch.set)) {
    Object.defineProperty(target, key, { value: patch.set[key], enumerable: true, writable: true, configurable: true });
  }
  for (const key of patch.unset) delete target[key];
}
