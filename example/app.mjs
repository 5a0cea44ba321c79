// The demo app: a view counter, login/logout with regenerateSession, a
// "your devices" page (every session of the signed-in user with its browser,
// IP and last activity, signing out one of them or every other one), and a
// defer-mode section, on MemoryStore or (with a Redis URL) RedisStore.
// Plain Koa, no router, no body parser, no external assets.
import { createHash, randomBytes } from 'node:crypto';
import Koa from 'koa';
import session, { MemoryStore } from 'koa-generic-session-ts';

const MAX_FORM_BYTES = 4096;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_NAME_LENGTH = 32;
const MAX_NOTE_LENGTH = 200;
/** describe() output is bounded (1024 characters of JSON): a longer user agent is cut. */
const MAX_USER_AGENT_LENGTH = 400;

const CSS = `
:root { color-scheme: light dark; --accent: #2f6fde; --muted: #667; --card: rgba(127,127,127,.08); }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; }
header, main, footer { max-width: 44rem; margin: 0 auto; padding: 0 1.25rem; }
header { display: flex; align-items: baseline; justify-content: space-between; flex-wrap: wrap; gap: .5rem; padding-top: 1.5rem; }
header h1 { font-size: 1.35rem; margin: 0; }
nav a { margin-left: 1rem; }
a { color: var(--accent); }
section { background: var(--card); border-radius: .6rem; padding: 1rem 1.25rem; margin: 1.25rem 0; }
section h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
.big { font-size: 2.4rem; font-weight: 700; line-height: 1.1; }
.muted { color: var(--muted); font-size: .9rem; }
.error { color: #c0392b; }
form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: .5rem 0 0; }
input[type=text] { font: inherit; padding: .35rem .6rem; border: 1px solid #99a; border-radius: .35rem; min-width: 12rem; }
button { font: inherit; padding: .35rem .9rem; border: 0; border-radius: .35rem; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #778; }
button.danger { background: #c0392b; }
ul.devices { list-style: none; padding: 0; margin: .75rem 0; }
ul.devices li { border-top: 1px solid rgba(127,127,127,.3); padding: .6rem 0; }
ul.devices li:first-child { border-top: 0; }
.tag { display: inline-block; font-size: .8rem; font-weight: 600; padding: 0 .45rem; border-radius: .3rem; background: var(--accent); color: #fff; margin-left: .35rem; }
.notice { border-left: 4px solid var(--accent); padding-left: .75rem; }
code { font-size: .9em; }
footer { border-top: 1px solid rgba(127,127,127,.3); margin-top: 2rem; padding-top: .75rem; padding-bottom: 2rem; }
`;
// the only style is the one above, so the policy can name it by hash and forbid everything else
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Builds the demo. Resolves to `{ app, storeName, ownerIndex, sessions, storeReads, close }`:
 * `app` is the Koa app (call `app.listen()` or `app.callback()`),
 * `close()` waits for session writes and closes the store.
 *
 * @param {object} [options]
 * @param {string} [options.redisUrl] Use RedisStore on this URL instead of MemoryStore.
 * @param {object} [options.store] Use this store (tests).
 * @param {string[]} [options.keys] Cookie signing keys. Default: SESSION_KEYS (comma separated), else random per start.
 */
export async function createApp(options = {}) {
  const { store, storeName } = await openStore(options);
  const counter = { reads: 0 };
  const counted = countReads(store, counter);

  const app = new Koa();
  app.keys = options.keys ?? process.env.SESSION_KEYS?.split(',').filter(Boolean) ?? [randomBytes(32).toString('hex')];
  // the cookie options every session starts with; signed and httpOnly are the defaults
  const cookie = { maxAge: 24 * 60 * 60 * 1000, sameSite: 'lax' };
  // Two session middlewares on one app: the first only serves paths under
  // /defer (its cookie path), so everywhere else it steps aside and the
  // second one runs; under /defer the second sees a session is already
  // handled and steps aside instead.
  const deferSession = session({
    store: counted,
    key: 'koa.sid.defer',
    prefix: 'demo:defer:',
    defer: true,
    cookie: { ...cookie, path: '/defer' },
  });
  // The owner index: every session saved while someone is signed in is also
  // recorded under their name, with the device it is used from (describe), so
  // /devices can list them and end one or all of the others.
  // It needs a store that indexes owners (listOwned and destroyOwned);
  // session() refuses `owner` with any other store, so it is only passed here
  // when the store has them.
  const ownerIndex = typeof store.listOwned === 'function' && typeof store.destroyOwned === 'function';
  const eagerSession = session({
    store: counted,
    key: 'koa.sid',
    prefix: 'demo:sess:',
    cookie,
    ...(ownerIndex
      ? {
          owner: (s) => (typeof s.user === 'string' ? s.user : undefined),
          describe: (ctx) => ({ userAgent: ctx.get('User-Agent').slice(0, MAX_USER_AGENT_LENGTH), ip: ctx.ip }),
        }
      : {}),
  });

  app.use(async (ctx, next) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    // not no-referrer: under it Chromium sends `Origin: null` with this site's own form posts, which
    // the origin check below could not tell from a sandboxed page elsewhere; same-origin sends our
    // own origin to us and nothing to other sites
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === '/favicon.ico') {
      ctx.status = 204;
      return;
    }
    // before the sessions: a refused request neither reads nor writes one
    if (!SAFE_METHODS.has(ctx.method) && !sameOrigin(ctx)) {
      ctx.status = 403;
      ctx.type = 'text';
      ctx.body = 'Refused: this form was sent from another site.\n';
      return;
    }
    await next();
  });
  app.use(deferSession);
  app.use(eagerSession);

  const footer = (ctx) => {
    const status = (ctx.path === '/defer' || ctx.path.startsWith('/defer/') ? deferSession : eagerSession).status;
    return (
      `<p id="status">Store: <strong>${escape(storeName)}</strong> · status ${escape(status)} · ` +
      `store reads since start: <span id="reads">${counter.reads}</span></p>`
    );
  };
  const page = (ctx, title, body) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · koa-generic-session-ts demo</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>koa-generic-session-ts demo</h1><nav><a href="/">Home</a><a href="/defer">Defer mode</a></nav></header>
<main>
${body}
</main>
<footer class="muted">${footer(ctx)}</footer>
</body>
</html>
`;
  };

  const routes = {
    'GET /': (ctx) => home(ctx, page),
    'POST /login': async (ctx) => {
      const form = await readForm(ctx);
      const name = (form.get('username') ?? '').trim();
      const problem = checkText(name, MAX_NAME_LENGTH, 'A name');
      if (problem) {
        ctx.status = 400;
        return home(ctx, page, problem, name);
      }
      // a new id on every privilege change, so an id planted before login
      // (session fixation) is worth nothing after it; the old one is destroyed
      const views = ctx.session?.views;
      await ctx.regenerateSession();
      Object.assign(ctx.session, { user: name, loggedInAt: new Date().toISOString(), views });
      redirect(ctx, '/');
    },
    'GET /devices': (ctx) => devices(ctx, page, storeName, ownerIndex),
    'POST /devices/end-others': async (ctx) => {
      // same care as the other forms: an HTML form post only (no cross-site
      // fetch with a JSON body), from a page of this origin (see sameOrigin)
      await readForm(ctx);
      const s = ctx.session;
      if (typeof s.user !== 'string') {
        ctx.status = 403;
        return devices(ctx, page, storeName, ownerIndex);
      }
      if (!ownerIndex) {
        ctx.status = 501;
        return devices(ctx, page, storeName, ownerIndex);
      }
      const ended = await ctx.sessionStore.destroySessions(s.user, { except: ctx.sessionId });
      // shown once by the page this redirects to (post/redirect/get)
      s.ended = ended;
      redirect(ctx, '/devices');
    },
    'POST /devices/sign-out': async (ctx) => {
      const form = await readForm(ctx);
      const s = ctx.session;
      if (typeof s.user !== 'string') {
        ctx.status = 403;
        return devices(ctx, page, storeName, ownerIndex);
      }
      if (!ownerIndex) {
        ctx.status = 501;
        return devices(ctx, page, storeName, ownerIndex);
      }
      const handle = form.get('handle') ?? '';
      // this device signs out with "Log out"; the handle of another user's session names none of this user's
      const device = (await ctx.sessionStore.listSessions(s.user, { current: ctx.sessionId })).find((d) => d.handle === handle);
      if (device === undefined || device.current) {
        s.signedOut = 'gone';
      } else {
        // a request of that device already running cannot bring its session back
        s.signedOut = (await ctx.sessionStore.destroySession(s.user, handle)) ? 'done' : 'gone';
      }
      redirect(ctx, '/devices');
    },
    'POST /logout': (ctx) => {
      ctx.session = null;
      redirect(ctx, '/logged-out');
    },
    'GET /logged-out': (ctx) =>
      page(
        ctx,
        'Signed out',
        `<section>
<h2>You are signed out</h2>
<p>Your session was destroyed in the store and its cookie removed (<code>ctx.session = null</code>).</p>
<p><a href="/">Back to the start page</a> (a new session starts there).</p>
</section>`,
      ),
    'GET /defer': async (ctx) => {
      // defer mode: nothing was read from the store until this line
      const s = await ctx.session;
      s.visits = (s.visits ?? 0) + 1;
      page(
        ctx,
        'Defer mode',
        `<section>
<h2>Defer mode</h2>
<p>Visits to this page: <span class="big" id="visits">${s.visits}</span></p>
<p class="muted">This part of the app has its own session middleware with <code>defer: true</code>
(cookie <code>koa.sid.defer</code>, path <code>/defer</code>). The session is loaded only when
a handler runs <code>await ctx.session</code>.</p>
</section>
<section>
<h2>A note kept in the deferred session</h2>
<p>Your note: <strong id="note">${s.note === undefined ? '<em>none yet</em>' : escape(s.note)}</strong></p>
<form method="post" action="/defer/note">
<label for="note-input">Note</label>
<input type="text" id="note-input" name="note" maxlength="${MAX_NOTE_LENGTH}" required>
<button type="submit">Save note</button>
</form>
</section>
<section>
<h2>A page that never asks</h2>
<p><a href="/defer/quiet">Open a page under /defer that does not read the session</a>: the store reads
counter below stays the same and no cookie is sent.</p>
</section>`,
      );
    },
    'POST /defer/note': async (ctx) => {
      const form = await readForm(ctx);
      const note = (form.get('note') ?? '').trim();
      const problem = checkText(note, MAX_NOTE_LENGTH, 'A note');
      if (problem) ctx.throw(400, problem);
      (await ctx.session).note = note;
      redirect(ctx, '/defer');
    },
    'GET /defer/quiet': (ctx) =>
      page(
        ctx,
        'Quiet page',
        `<section>
<h2>Nothing was loaded</h2>
<p>This handler never reads <code>ctx.session</code>, so in defer mode the middleware did not
touch the store for this request.</p>
<p><a href="/defer">Back to the defer page</a></p>
</section>`,
      ),
  };

  app.use(async (ctx) => {
    const route = routes[`${ctx.method} ${ctx.path}`];
    if (route !== undefined) return route(ctx);
    const known = Object.keys(routes).some((r) => r.endsWith(' ' + ctx.path));
    ctx.status = known ? 405 : 404;
    page(ctx, 'Not found', `<section><h2>${known ? 'Method not allowed' : 'Not found'}</h2><p><a href="/">Home</a></p></section>`);
  });

  let closing;
  return {
    app,
    storeName,
    /** True when the main session middleware has `owner` (the store indexes owners), so /devices works. */
    ownerIndex,
    /** Both session middlewares, for `shutdown()` / `closeOnSignal()`. */
    sessions: [deferSession, eagerSession],
    /** How many times the store's get() ran (what the footer shows). */
    get storeReads() {
      return counter.reads;
    },
    /** Waits for in-flight session writes, then closes the store once. Idempotent. */
    close() {
      return (closing ??= (async () => {
        await deferSession.close({ closeStore: false });
        await eagerSession.close();
      })());
    },
  };
}

function home(ctx, page, error, typed = '') {
  const s = ctx.session;
  // a failed login shows the form again without counting a view
  if (error === undefined) s.views = (s.views ?? 0) + 1;
  const account =
    typeof s.user === 'string'
      ? `<p>Signed in as <strong id="user">${escape(s.user)}</strong>
<span class="muted">since ${escape(new Date(s.loggedInAt).toLocaleString('en-GB', { timeZone: 'UTC' }))} UTC</span></p>
<p><a href="/devices">Your devices</a>: where you are signed in, and log out everywhere else.</p>
<form method="post" action="/logout"><button type="submit" class="secondary">Log out</button></form>
<p class="muted">Logging out sets <code>ctx.session = null</code>: the session is destroyed in the store.</p>`
      : `<p>You are not signed in.</p>
<form method="post" action="/login">
<label for="username">Your name</label>
<input type="text" id="username" name="username" maxlength="${MAX_NAME_LENGTH}" value="${escape(typed)}" required autofocus>
<button type="submit">Log in</button>
</form>
${error === undefined ? '' : `<p class="error" role="alert">${escape(error)}</p>`}
<p class="muted">Any name works; there are no passwords. Logging in calls <code>await ctx.regenerateSession()</code>,
so your session gets a new id and a new cookie.</p>`;
  page(
    ctx,
    'Home',
    `<section>
<h2>View counter</h2>
<p>You have viewed this page <span class="big" id="views">${s.views ?? 0}</span> ${s.views === 1 ? 'time' : 'times'}.</p>
<p class="muted">Reload the page: the count lives in your session, not in the page.</p>
</section>
<section>
<h2>Account</h2>
${account}
</section>`,
  );
}

async function devices(ctx, page, storeName, ownerIndex) {
  page(ctx, 'Your devices', await deviceSections(ctx, storeName, ownerIndex));
}

async function deviceSections(ctx, storeName, ownerIndex) {
  const s = ctx.session;
  if (typeof s.user !== 'string') {
    return `<section>
<h2>Your devices</h2>
<p>You are not signed in, so there are no devices to show.</p>
<p><a href="/">Sign in on the start page</a>.</p>
</section>`;
  }
  if (!ownerIndex) {
    return `<section>
<h2>Your devices</h2>
<p id="no-index">This store (${escape(storeName)}) cannot list the sessions of one user yet: the
<code>owner</code> option needs a store with <code>listOwned</code> and <code>destroyOwned</code>
(MemoryStore and RedisStore have them), so the demo runs without it here.</p>
<p><a href="/">Back to the start page</a></p>
</section>`;
  }
  let notice = '';
  if (typeof s.ended === 'number') {
    notice = `<p class="notice" id="ended" role="status">${
      s.ended === 0
        ? 'No other session was signed in.'
        : `Ended ${s.ended} other ${s.ended === 1 ? 'session' : 'sessions'}: ${s.ended === 1 ? 'that device is' : 'those devices are'} signed out now.`
    }</p>`;
    delete s.ended;
  }
  if (typeof s.signedOut === 'string') {
    notice = `<p class="notice" id="signed-out" role="status">${
      s.signedOut === 'done' ? 'That device is signed out now.' : 'That device was already signed out.'
    }</p>`;
    delete s.signedOut;
  }
  // newest save first, as listSessions() gives them, but this device on top
  const list = (await ctx.sessionStore.listSessions(s.user, { current: ctx.sessionId })).sort(
    (a, b) => Number(b.current) - Number(a.current),
  );
  const others = list.filter((d) => !d.current).length;
  const items = list.map(
    (d) => `<li${d.current ? ' aria-current="true"' : ''}>
<strong>${d.current ? 'This device' : 'Another device'}</strong>${d.current ? '<span class="tag">you are here</span>' : ''}
<span class="muted"><code>${escape(d.handle.slice(0, 8))}</code></span><br>
<span class="browser">${escape(browserOf(d.info?.userAgent))}</span> · IP <span class="ip">${escape(typeof d.info?.ip === 'string' ? d.info.ip : 'unknown')}</span><br>
<span class="muted">Signed in ${escape(utc(d.createdAt))} · last active ${escape(utc(d.lastSeenAt ?? d.savedAt))} · ${escape(timeLeft(d.ttl))}</span>${
      d.current
        ? ''
        : `
<form method="post" action="/devices/sign-out"><input type="hidden" name="handle" value="${escape(d.handle)}"><button type="submit" class="secondary">Sign out</button></form>`
    }
</li>`,
  );
  return `<section>
<h2>Your devices</h2>
${notice}
<p id="device-count">Signed in on <strong>${list.length}</strong> ${list.length === 1 ? 'device' : 'devices'}</p>
<ul class="devices" id="devices">
${items.join('\n')}
</ul>
${
  others > 0
    ? `<form method="post" action="/devices/end-others"><button type="submit" class="danger">Log out everywhere else</button></form>`
    : '<p class="muted">You are not signed in anywhere else.</p>'
}
<p class="muted">Every session saved while you are signed in is also recorded under your name
(the <code>owner</code> option), with the user agent and IP address of its last save (the
<code>describe</code> option). This page lists them with
<code>ctx.sessionStore.listSessions(owner, { current: ctx.sessionId })</code>, which shows an opaque
handle for each, never its session id. <em>Sign out</em> calls
<code>ctx.sessionStore.destroySession(owner, handle)</code>; <em>Log out everywhere else</em> calls
<code>ctx.sessionStore.destroySessions(owner, { except: ctx.sessionId })</code>. "Last active" is the
last request that saved the session (a page view here): reading a session alone writes nothing.
Anyone who signs in with the same name shares this list: there are no passwords here.</p>
</section>`;
}

/**
 * "Firefox 128 on Windows" from a User-Agent header: a few well-known tokens,
 * checked in an order that gets past the ones browsers copy from each other
 * (every Chromium says Safari, Edge and Opera say Chrome, iOS says Mac OS X).
 */
export function browserOf(userAgent) {
  if (typeof userAgent !== 'string' || userAgent.trim() === '') return 'Unknown browser';
  const browsers = [
    [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
    [/\b(?:OPR|Opera)\/(\d+)/, 'Opera'],
    [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
    [/\bHeadlessChrome\/(\d+)/, 'Headless Chrome'],
    [/\b(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
    [/\bVersion\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
  ];
  const systems = [
    [/Windows/, 'Windows'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/Android/, 'Android'],
    [/CrOS/, 'ChromeOS'],
    [/Linux/, 'Linux'],
  ];
  const found = browsers.find(([pattern]) => pattern.test(userAgent));
  // not a browser: its first product token (curl/8.5.0 -> curl)
  const name = found ? `${found[1]} ${found[0].exec(userAgent)[1]}` : (/^[^/\s]{1,40}/.exec(userAgent)?.[0] ?? 'Unknown browser');
  const system = systems.find(([pattern]) => pattern.test(userAgent))?.[1];
  return system ? `${name} on ${system}` : name;
}

function utc(date) {
  return `${date.toLocaleString('en-GB', { timeZone: 'UTC' })} UTC`;
}

function timeLeft(ttl) {
  if (ttl === null) return 'no expiry';
  const minutes = Math.floor(ttl / 60_000);
  if (minutes < 1) return 'expires in less than a minute';
  const hours = Math.floor(minutes / 60);
  return `expires in ${hours > 0 ? `${hours} h ` : ''}${minutes % 60} min`;
}

async function openStore({ redisUrl, store }) {
  if (store !== undefined) return { store, storeName: store.constructor?.name ?? 'custom store' };
  if (redisUrl) {
    let RedisStore;
    try {
      ({ RedisStore } = await import('koa-generic-session-ts/redis'));
    } catch (err) {
      throw new Error(`REDIS_URL is set but koa-generic-session-ts/redis could not be loaded (run npm run build): ${err.message}`, {
        cause: err,
      });
    }
    // the owner index keys get the demo's prefix too, so every key it writes starts with demo:
    return { store: new RedisStore({ url: redisUrl, ownerPrefix: 'demo:owner:' }), storeName: `RedisStore at ${redactUrl(redisUrl)}` };
  }
  return { store: new MemoryStore(), storeName: 'MemoryStore (in this process)' };
}

/** The store, with every get() counted; each method runs on the real store (private fields need it). */
function countReads(store, counter) {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function' || property === 'constructor') return value;
      if (property === 'get') {
        return (...args) => {
          counter.reads++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

/**
 * A state-changing request must come from this site's own pages. The
 * SameSite=Lax cookie already stays home on a cross-site POST, but not on a
 * POST from another origin of the same site (another port, a sibling
 * subdomain), and a refused cookie would still let such a form act on the
 * anonymous session. Browsers send Origin with every POST and, in current
 * ones, Sec-Fetch-Site: either one naming another origin is refused. A
 * request with neither (curl, a script) is not a browser acting for someone
 * else, and passes.
 */
function sameOrigin(ctx) {
  const site = ctx.get('Sec-Fetch-Site');
  // 'none': typed in the address bar or a bookmark
  if (site !== '' && site !== 'same-origin' && site !== 'none') return false;
  const origin = ctx.get('Origin');
  // 'null' (a sandboxed frame, a file: page) names no origin of ours either. Built from the request's
  // own host: koa 3's ctx.origin is the Origin header itself (koa 2's was protocol and host)
  return origin === '' || origin === `${ctx.protocol}://${ctx.host}`;
}

async function readForm(ctx) {
  if (!ctx.is('application/x-www-form-urlencoded')) ctx.throw(415, 'send an HTML form (application/x-www-form-urlencoded)');
  if (Number(ctx.get('Content-Length')) > MAX_FORM_BYTES) ctx.throw(413, 'form too large');
  let size = 0;
  const chunks = [];
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) ctx.throw(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function checkText(text, max, what) {
  if (text.length === 0) return `${what} is needed.`;
  if ([...text].length > max) return `${what} can have at most ${max} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) return `${what} cannot hold control characters.`;
  return undefined;
}

/** 303 See Other: the browser follows a form POST with a GET, so reloading does not post again. */
function redirect(ctx, url) {
  ctx.redirect(url);
  ctx.status = 303;
}

function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'an unparsable URL';
  }
}

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
