// The demo app (example/) driven as a person would: in a real Chromium through
// playwright-core, plus plain HTTP checks of the same app and of `node example/server.mjs`.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { chromium, type Browser, type BrowserContext, type Cookie, type Page } from 'playwright-core';
import type { Demo, DemoOptions } from '../example/app.mjs';
import { RecordingStore } from './support/stores.js';
import { RedisServer } from './support/redis.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let createApp: (options?: DemoOptions) => Promise<Demo>;
let browserOf: (userAgent: unknown) => string;

const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

/** The demo listening on a free 127.0.0.1 port. */
async function startDemo(options: DemoOptions = {}): Promise<{ demo: Demo; server: Server; base: string; stop(): Promise<void> }> {
  const demo = await createApp({ keys: ['demo test key'], ...options });
  const server = demo.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    demo,
    server,
    base,
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
      await demo.close();
    },
  };
}

interface SpawnedServer {
  base: string;
  stdout(): string;
  /** SIGTERM, then the exit: code, signal and everything written to stderr. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** SIGKILL if it still runs (cleanup after a failed assertion). */
  kill(): void;
}

/** `node example/server.mjs` with `env`, resolved once its banner is out. */
async function spawnServer(env: NodeJS.ProcessEnv): Promise<SpawnedServer> {
  const child = spawn(process.execPath, ['example/server.mjs'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout);
        // the banner ends with this line
        if (match && stdout.includes('stop with Ctrl+C')) resolve(match[0].slice(0, -1));
      });
      child.once('exit', (code) => reject(new Error(`example/server.mjs exited with ${code} before listening: ${stderr}`)));
    });
    return {
      base,
      stdout: () => stdout,
      async stop() {
        child.kill('SIGTERM');
        const [code, signal] = await exited;
        return { code, signal, stderr };
      },
      kill,
    };
  } catch (err) {
    kill();
    throw err;
  }
}

/** Just enough of a browser's cookie jar for one host: names to values, expired ones dropped. */
class CookieJar {
  readonly #cookies = new Map<string, string>();

  get(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const res = await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), cookie } });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(eq + 1));
    }
    return res;
  }
}

function setCookieHeaders(res: { headers: Record<string, unknown> }): string[] {
  const value = res.headers['set-cookie'];
  return Array.isArray(value) ? (value as string[]) : value === undefined ? [] : [String(value)];
}

describe('demo (example/)', function () {
  before(async function () {
    // example/ imports the package by its own name, which resolves to dist/
    if (!existsSync(root + 'dist/cjs/lib/cjs.js')) {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
    ({ createApp, browserOf } = await import('../example/app.mjs'));
  });

  describe('in Chromium', function () {
    // a real browser driving up to four windows: on a loaded 2-core machine one scenario took over
    // 30 s; the limit is there to end a hang, not to time the demo
    this.timeout(120_000);
    let browser: Browser;
    let running: Awaited<ReturnType<typeof startDemo>>;
    let context: BrowserContext;
    let page: Page;

    before(async function () {
      if (!existsSync(CHROMIUM)) {
        throw new Error(
          `no Chromium at ${CHROMIUM}: install it with \`apt-get install chromium\` (Debian), or set CHROMIUM_PATH`,
        );
      }
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    });

    after(async function () {
      await browser?.close();
    });

    beforeEach(async function () {
      running = await startDemo();
      context = await browser.newContext();
      page = await context.newPage();
    });

    afterEach(async function () {
      await context?.close();
      await running?.stop();
    });

    const url = (path: string): string => running.base + path;
    const text = async (selector: string): Promise<string> => ((await page.locator(selector).textContent()) ?? '').trim();
    const views = async (): Promise<number> => Number(await text('#views'));
    const cookie = async (name: string): Promise<Cookie | undefined> =>
      (await context.cookies()).find((c) => c.name === name);

    async function logIn(name: string, on: Page = page): Promise<void> {
      await on.getByLabel('Your name').fill(name);
      await Promise.all([on.waitForURL(url('/')), on.getByRole('button', { name: 'Log in' }).click()]);
    }

    it('counts page views across reloads, in an httpOnly signed cookie session', async function () {
      await page.goto(url('/'));
      expect(await views()).to.equal(1);
      await page.reload();
      expect(await views()).to.equal(2);
      await page.reload();
      expect(await views()).to.equal(3);
      expect(await page.getByText('You are not signed in.').isVisible()).to.equal(true);
      expect(await text('#status')).to.contain('MemoryStore').and.contain('status available');

      const sid = await cookie('koa.sid');
      expect(sid, 'session cookie').to.include({ httpOnly: true, sameSite: 'Lax', path: '/' });
      expect(await cookie('koa.sid.sig'), 'signature cookie').to.include({ httpOnly: true });
      // page scripts cannot read it
      expect(await page.evaluate<string>('document.cookie')).to.not.contain('koa.sid');
    });

    it('logs in through the form: the name shows, the session id changes, the old id is dead', async function () {
      await page.goto(url('/'));
      await page.reload();
      expect(await views()).to.equal(2);
      const before = await context.cookies();
      const sidBefore = before.find((c) => c.name === 'koa.sid')?.value;
      expect(sidBefore).to.be.a('string');

      // markup in the name must come out as text
      await logIn('Ada <b>Lovelace</b>');
      expect(await text('#user')).to.equal('Ada <b>Lovelace</b>');
      expect(await page.locator('#user b').count()).to.equal(0);
      expect(await views(), 'the demo carries the count over').to.equal(3);

      const sidAfter = await cookie('koa.sid');
      expect(sidAfter?.value, 'regenerateSession() gives a new id').to.be.a('string').and.not.equal(sidBefore);
      expect(sidAfter).to.include({ httpOnly: true, sameSite: 'Lax', path: '/' });

      // the session is really stored under the new id: a reload keeps the user
      await page.reload();
      expect(await text('#user')).to.equal('Ada <b>Lovelace</b>');
      expect(await views()).to.equal(4);

      // someone holding the pre-login cookies (session fixation) gets a fresh, anonymous session
      const other = await browser.newContext();
      try {
        await other.addCookies(before);
        const otherPage = await other.newPage();
        await otherPage.goto(url('/'));
        expect(await otherPage.getByText('You are not signed in.').isVisible()).to.equal(true);
        expect(Number(await otherPage.locator('#views').textContent())).to.equal(1);
      } finally {
        await other.close();
      }
    });

    it('refuses an empty name with a message and keeps the visitor signed out', async function () {
      await page.goto(url('/'));
      const sid = (await cookie('koa.sid'))?.value;
      await page.getByLabel('Your name').fill('   ');
      await page.getByRole('button', { name: 'Log in' }).click();
      expect(await page.getByRole('alert').textContent()).to.equal('A name is needed.');
      expect(await page.locator('#user').count()).to.equal(0);
      expect((await cookie('koa.sid'))?.value, 'no regeneration for a failed login').to.equal(sid);
    });

    it('the defer-mode section keeps its own session, loaded only when a handler awaits it', async function () {
      await page.goto(url('/defer'));
      expect(Number(await text('#visits'))).to.equal(1);
      await page.reload();
      expect(Number(await text('#visits'))).to.equal(2);

      await page.getByLabel('Note').fill('remember the milk');
      await Promise.all([page.waitForURL(url('/defer')), page.getByRole('button', { name: 'Save note' }).click()]);
      expect(await text('#note')).to.equal('remember the milk');
      expect(Number(await text('#visits'))).to.equal(3);

      const deferCookie = await cookie('koa.sid.defer');
      expect(deferCookie).to.include({ path: '/defer', httpOnly: true, sameSite: 'Lax' });
      expect(await cookie('koa.sid'), 'the eager middleware stepped aside under /defer').to.equal(undefined);

      // a page under /defer that never reads the session: no store read, no cookie
      const readsBefore = Number(await text('#reads'));
      expect(readsBefore).to.equal(running.demo.storeReads);
      const [response] = await Promise.all([
        page.waitForResponse(url('/defer/quiet')),
        page.getByRole('link', { name: /does not read the session/ }).click(),
      ]);
      await page.waitForURL(url('/defer/quiet'));
      expect(await page.getByRole('heading', { name: 'Nothing was loaded' }).isVisible()).to.equal(true);
      expect(Number(await text('#reads'))).to.equal(readsBefore);
      expect(running.demo.storeReads).to.equal(readsBefore);
      expect(await response.headerValue('set-cookie')).to.equal(null);

      // the home page has its own session and counter
      await page.getByRole('link', { name: 'Home' }).click();
      await page.waitForURL(url('/'));
      expect(await views()).to.equal(1);
      expect(await text('#status')).to.contain('MemoryStore');
    });

    it('logs out: the signed-out page shows, the cookie is gone and the session is destroyed', async function () {
      await page.goto(url('/'));
      await logIn('Grace');
      expect(await text('#user')).to.equal('Grace');
      const signedIn = await context.cookies();

      await Promise.all([page.waitForURL(url('/logged-out')), page.getByRole('button', { name: 'Log out' }).click()]);
      expect(await page.getByRole('heading', { name: 'You are signed out' }).isVisible()).to.equal(true);
      expect(await cookie('koa.sid')).to.equal(undefined);
      expect(await cookie('koa.sid.sig')).to.equal(undefined);

      await page.getByRole('link', { name: 'Back to the start page' }).click();
      await page.waitForURL(url('/'));
      expect(await page.getByText('You are not signed in.').isVisible()).to.equal(true);
      expect(await views()).to.equal(1);

      // the signed-in cookies, kept by someone, no longer open the session
      const other = await browser.newContext();
      try {
        await other.addCookies(signedIn);
        const otherPage = await other.newPage();
        await otherPage.goto(url('/'));
        expect(await otherPage.locator('#user').count()).to.equal(0);
        expect(await otherPage.getByText('You are not signed in.').isVisible()).to.equal(true);
      } finally {
        await other.close();
      }
    });

    it('"Your devices": one user on three browsers, "Log out everywhere else" signs the other two out', async function () {
      // Chromium reports every CSP refusal (inline style, script, form target) on the console
      const refusals: string[] = [];
      const watch = (p: Page): void => {
        p.on('console', (m) => {
          if (/Content Security Policy/i.test(m.text())) refusals.push(m.text());
        });
      };
      watch(page);
      const contexts: BrowserContext[] = [];
      const open = async (): Promise<Page> => {
        const c = await browser.newContext();
        contexts.push(c);
        const p = await c.newPage();
        watch(p);
        await p.goto(url('/'));
        return p;
      };
      try {
        await page.goto(url('/'));
        expect(await page.getByRole('link', { name: 'Your devices' }).count(), 'no link before login').to.equal(0);
        await logIn('Ada');
        const [laptop, phone, bob] = (await Promise.all([open(), open(), open()])) as [Page, Page, Page];
        await Promise.all([logIn('Ada', laptop), logIn('Ada', phone), logIn('Bob', bob)]);
        const sids = await Promise.all(
          [context, ...contexts].map(async (c) => (await c.cookies()).find((k) => k.name === 'koa.sid')?.value),
        );
        expect(new Set(sids).size, 'four browsers, four sessions').to.equal(4);

        await Promise.all([page.waitForURL(url('/devices')), page.getByRole('link', { name: 'Your devices' }).click()]);
        expect(await text('#device-count')).to.equal('Signed in on 3 devices');
        const items = page.locator('#devices li');
        expect(await items.count()).to.equal(3);
        // this device is marked, and listed first
        expect(await page.locator('#devices li[aria-current="true"]').count()).to.equal(1);
        expect(await items.first().getAttribute('aria-current')).to.equal('true');
        expect((await items.first().textContent())?.trim()).to.match(/^This device\s*you are here/);
        for (const item of await items.all()) {
          expect(((await item.textContent()) ?? '').replace(/\s+/g, ' ')).to.match(
            /Signed in \d\d\/\d\d\/\d{4}, \d\d:\d\d:\d\d UTC · last active \d\d\/\d\d\/\d{4}, \d\d:\d\d:\d\d UTC · expires in 23 h \d+ min/,
          );
        }
        expect(await page.getByText('Another device').count()).to.equal(2);
        // handles only: no session id (a credential) of anyone appears in the page
        const html = await page.content();
        for (const sid of sids) expect(html).to.not.contain(sid);

        // Bob's list is his own
        await bob.goto(url('/devices'));
        expect(((await bob.locator('#device-count').textContent()) ?? '').trim()).to.equal('Signed in on 1 device');

        await Promise.all([
          page.waitForURL(url('/devices')),
          page.getByRole('button', { name: 'Log out everywhere else' }).click(),
        ]);
        expect(await page.getByRole('status').textContent()).to.equal('Ended 2 other sessions: those devices are signed out now.');
        expect(await text('#device-count')).to.equal('Signed in on 1 device');
        expect(await page.getByRole('button', { name: 'Log out everywhere else' }).count()).to.equal(0);
        expect(await page.getByText('You are not signed in anywhere else.').isVisible()).to.equal(true);
        // the notice shows once
        await page.reload();
        expect(await page.getByRole('status').count()).to.equal(0);

        for (const other of [laptop, phone]) {
          await other.reload();
          expect(await other.locator('#user').count()).to.equal(0);
          expect(await other.getByText('You are not signed in.').isVisible()).to.equal(true);
          expect(Number(await other.locator('#views').textContent()), 'a fresh, empty session').to.equal(1);
          await other.goto(url('/devices'));
          expect(await other.getByText('You are not signed in, so there are no devices to show.').isVisible()).to.equal(true);
        }
        await page.goto(url('/'));
        expect(await text('#user'), 'this device stays signed in').to.equal('Ada');
        await bob.goto(url('/'));
        expect(((await bob.locator('#user').textContent()) ?? '').trim(), 'another user is untouched').to.equal('Bob');
        expect(refusals).to.deep.equal([]);
      } finally {
        for (const c of contexts) await c.close();
      }
    });

    it('"Your devices": each device with its browser, IP and last activity; "Sign out" ends that one, which is signed out at its next request', async function () {
      const phoneContext = await browser.newContext({ userAgent: FIREFOX_WINDOWS });
      try {
        await page.goto(url('/'));
        await logIn('Ada');
        const phone = await phoneContext.newPage();
        await phone.goto(url('/'));
        await logIn('Ada', phone);
        expect(((await phone.locator('#user').textContent()) ?? '').trim()).to.equal('Ada');
        const phoneSid = (await phoneContext.cookies()).find((c) => c.name === 'koa.sid')?.value;
        const ownUserAgent = (await page.evaluate('navigator.userAgent')) as string;

        await page.goto(url('/devices'));
        expect(await text('#device-count')).to.equal('Signed in on 2 devices');
        const [mine, other] = await page.locator('#devices li').all();
        expect(await mine!.locator('.browser').textContent()).to.equal(browserOf(ownUserAgent));
        expect(browserOf(ownUserAgent)).to.match(/^Headless Chrome \d+ on Linux$/);
        expect(await other!.locator('.browser').textContent()).to.equal('Firefox 128 on Windows');
        for (const item of [mine!, other!]) {
          expect(await item.locator('.ip').textContent()).to.equal('127.0.0.1');
          expect(((await item.textContent()) ?? '').replace(/\s+/g, ' ')).to.match(/last active \d\d\/\d\d\/\d{4}, \d\d:\d\d:\d\d UTC/);
        }
        // one button per other device; this one signs out with "Log out"
        expect(await mine!.getByRole('button', { name: 'Sign out' }).count()).to.equal(0);
        expect(await page.content()).to.not.contain(phoneSid);

        await Promise.all([page.waitForURL(url('/devices')), other!.getByRole('button', { name: 'Sign out' }).click()]);
        expect(await page.getByRole('status').textContent()).to.equal('That device is signed out now.');
        expect(await text('#device-count')).to.equal('Signed in on 1 device');

        await phone.reload();
        expect(await phone.locator('#user').count(), 'the phone is signed out at its next request').to.equal(0);
        expect(await phone.getByText('You are not signed in.').isVisible()).to.equal(true);
        await page.goto(url('/'));
        expect(await text('#user'), 'this device stays signed in').to.equal('Ada');
      } finally {
        await phoneContext.close();
      }
    });

    it('a form posted from a page of another origin (another port of 127.0.0.1) is refused with 403', async function () {
      // same site (127.0.0.1), other origin: Chromium sends the SameSite=Lax cookie with this POST
      const evil = http.createServer((req, res) => {
        res.setHeader('Content-Type', 'text/html');
        res.end(`<!doctype html><title>another site</title>
<form method="post" action="${running.base}/logout"><button>Win a prize</button></form>
<form method="post" action="${running.base}/login"><input type="hidden" name="username" value="Mallory"><button>Claim</button></form>`);
      });
      evil.listen(0, '127.0.0.1');
      await once(evil, 'listening');
      const evilBase = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
      try {
        await page.goto(url('/'));
        await logIn('Ada');
        const reads = running.demo.storeReads;
        for (const button of ['Win a prize', 'Claim']) {
          await page.goto(evilBase + '/');
          const [response] = await Promise.all([
            page.waitForResponse((r) => r.url().startsWith(running.base) && r.request().method() === 'POST'),
            page.getByRole('button', { name: button }).click(),
          ]);
          expect(response.status(), button).to.equal(403);
          expect(await response.request().headerValue('origin')).to.equal(evilBase);
          expect(await page.locator('body').textContent()).to.contain('Refused: this form was sent from another site.');
        }
        expect(running.demo.storeReads, 'a refused form touches no session').to.equal(reads);
        await page.goto(url('/'));
        expect(await text('#user'), 'still signed in, as herself').to.equal('Ada');
        // the same forms on the demo's own pages work
        await Promise.all([page.waitForURL(url('/logged-out')), page.getByRole('button', { name: 'Log out' }).click()]);
        expect(await page.getByText('You are signed out').isVisible()).to.equal(true);
      } finally {
        evil.closeAllConnections();
        evil.close();
      }
    });
  });

  describe('over plain HTTP', function () {
    it('names browsers from their user agents, simply', function () {
      const cases: Array<[unknown, string]> = [
        [FIREFOX_WINDOWS, 'Firefox 128 on Windows'],
        ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Chrome 131 on Linux'],
        ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 'Edge 131 on Windows'],
        ['Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0', 'Opera 115 on Windows'],
        ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari 17 on iOS'],
        ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari 17 on macOS'],
        ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome 131 on Android'],
        ['curl/8.5.0', 'curl'],
        ['', 'Unknown browser'],
        [undefined, 'Unknown browser'],
      ];
      for (const [userAgent, expected] of cases) expect(browserOf(userAgent), String(userAgent)).to.equal(expected);
    });

    it('"Sign out" of one device: only a handle of the signed-in user\'s other sessions ends anything', async function () {
      const demo = await createApp({ keys: ['demo test key'] });
      try {
        const signIn = async (name: string, userAgent: string) => {
          const agent = request.agent(demo.app.callback());
          await agent.get('/').set('User-Agent', userAgent);
          await agent.post('/login').type('form').set('User-Agent', userAgent).send({ username: name }).expect(303);
          return agent;
        };
        const laptop = await signIn('Ada', 'curl/8.5.0');
        const phone = await signIn('Ada', FIREFOX_WINDOWS);
        const bob = await signIn('Bob', FIREFOX_WINDOWS);
        const main = demo.sessions[1]!;
        const [bobSession] = await main.listSessions('Bob');
        const phoneSession = (await main.listSessions('Ada')).find((d) => d.info?.userAgent === FIREFOX_WINDOWS)!;
        expect(phoneSession.info).to.have.all.keys('userAgent', 'ip');
        expect(phoneSession.info!.ip).to.match(/^(::ffff:)?127\.0\.0\.1$/);
        const signOut = (handle: string) => laptop.post('/devices/sign-out').type('form').send({ handle }).expect(303);

        for (const handle of [bobSession!.handle, 'not a handle', '']) {
          await signOut(handle);
          expect((await laptop.get('/devices')).text, handle).to.contain('That device was already signed out.');
        }
        expect(await main.listSessions('Bob')).to.have.length(1);
        expect(await main.listSessions('Ada')).to.have.length(2);

        await signOut(phoneSession.handle);
        const page = (await laptop.get('/devices')).text;
        expect(page).to.contain('That device is signed out now.').and.contain('Signed in on <strong>1</strong> device');
        expect((await phone.get('/')).text).to.contain('You are not signed in.');
        expect((await bob.get('/')).text).to.contain('id="user">Bob<');
        expect((await request(demo.app.callback()).post('/devices/sign-out').type('form').send({ handle: phoneSession.handle })).status).to.equal(403);
      } finally {
        await demo.close();
      }
    });

    it('state-changing requests: another Origin or a cross-site Sec-Fetch-Site gets 403; same origin and none pass', async function () {
      const demo = await createApp({ keys: ['demo test key'] });
      try {
        const agent = request.agent(demo.app.callback());
        const form = (path: string, headers: Record<string, string>) =>
          agent.post(path).type('form').set(headers).send({ username: 'Ada' });
        const refused: Array<Record<string, string>> = [
          { Origin: 'http://evil.example' },
          { Origin: 'null' },
          { 'Sec-Fetch-Site': 'cross-site' },
          { 'Sec-Fetch-Site': 'same-site' },
        ];
        for (const headers of refused) {
          const res = await form('/login', headers);
          expect(res.status, JSON.stringify(headers)).to.equal(403);
          expect(res.text).to.equal('Refused: this form was sent from another site.\n');
          expect(res.headers['set-cookie'], 'no session touched').to.equal(undefined);
        }
        const server = demo.app.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        try {
          const same = await fetch(origin + '/login', {
            method: 'POST',
            headers: { Origin: origin, 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/x-www-form-urlencoded' },
            body: 'username=Ada',
            redirect: 'manual',
          });
          expect(same.status, 'a form of this origin').to.equal(303);
        } finally {
          server.close();
        }
        // a client that sends neither header (curl) is no browser acting for someone else
        expect((await form('/logout', {})).status).to.equal(303);
        expect((await agent.get('/').set('Sec-Fetch-Site', 'cross-site')).status, 'a link from elsewhere still opens pages').to.equal(200);
      } finally {
        await demo.close();
      }
    });

    it('serves the home page with a session cookie and a strict content security policy', async function () {
      const demo = await createApp({ keys: ['demo test key'] });
      try {
        const agent = request.agent(demo.app.callback());
        const first = await agent.get('/').expect(200).expect('Content-Type', /text\/html/);
        expect(first.text).to.match(/id="views">1</).and.contain('MemoryStore (in this process)');
        expect(first.headers['content-security-policy']).to.match(/^default-src 'none'; style-src 'sha256-/);
        const cookies = setCookieHeaders(first);
        expect(cookies.find((c) => c.startsWith('koa.sid='))).to.match(/; path=\/;.*samesite=lax; httponly$/);
        const second = await agent.get('/').expect(200);
        expect(second.text).to.match(/id="views">2</);
        expect(setCookieHeaders(await agent.get('/favicon.ico').expect(204))).to.deep.equal([]);
        await agent.get('/nowhere').expect(404);
        await agent.get('/login').expect(405);
        await agent.post('/login').send({ username: 'json' }).expect(415);
        await agent.post('/login').type('form').send({ username: 'x'.repeat(5000) }).expect(413);
      } finally {
        await demo.close();
      }
    });

    it('login regenerates (the old key is destroyed in the store), logout destroys', async function () {
      const store = new RecordingStore();
      const demo = await createApp({ keys: ['demo test key'], store });
      try {
        const agent = request.agent(demo.app.callback());
        await agent.get('/').expect(200);
        const [oldKey] = [...store.data.keys()];
        expect(oldKey).to.match(/^demo:sess:/);

        const login = await agent.post('/login').type('form').send({ username: 'Alan' }).expect(303);
        expect(login.headers.location).to.equal('/');
        expect(store.data.has(oldKey as string), 'the pre-login session is gone').to.equal(false);
        const [newKey, ...rest] = [...store.data.keys()];
        expect(rest).to.deep.equal([]);
        expect(newKey).to.not.equal(oldKey);
        expect(store.stored(newKey as string)).to.include({ user: 'Alan', views: 1 });
        expect((await agent.get('/').expect(200)).text).to.contain('Signed in as <strong id="user">Alan</strong>');

        await agent.post('/logout').expect(303).expect('Location', '/logged-out');
        expect(store.data.size).to.equal(0);
        expect(store.ops().slice(-1)).to.deep.equal(['destroy']);
        expect((await agent.get('/').expect(200)).text).to.contain('You are not signed in.');
      } finally {
        await demo.close();
      }
    });

    it('/devices lists one owner\'s sessions by handle; "Log out everywhere else" is a form POST that ends the others', async function () {
      const demo = await createApp({ keys: ['demo test key'] });
      try {
        expect(demo.ownerIndex).to.equal(true);
        const callback = demo.app.callback();
        const signIn = async (name: string) => {
          const agent = request.agent(callback);
          await agent.get('/').expect(200);
          const res = await agent.post('/login').type('form').send({ username: name }).expect(303);
          const sid = /koa\.sid=([^;]+)/.exec(setCookieHeaders(res).join('\n'))?.[1];
          expect(sid).to.be.a('string');
          return { agent, sid: sid as string };
        };
        const [ann, annLaptop, annPhone, bob] = [await signIn('Ann'), await signIn('Ann'), await signIn('Ann'), await signIn('Bob')];
        const home = await ann.agent.get('/').expect(200);
        expect(home.text).to.contain('<a href="/devices">Your devices</a>');

        const list = await ann.agent.get('/devices').expect(200).expect('Content-Type', /text\/html/);
        expect(list.headers['content-security-policy']).to.match(/^default-src 'none'; style-src 'sha256-/);
        expect(list.text).to.contain('<p id="device-count">Signed in on <strong>3</strong> devices</p>');
        expect(list.text.match(/<li/g)).to.have.length(3);
        expect(list.text.match(/aria-current="true"/g)).to.have.length(1);
        expect(list.text).to.contain('<form method="post" action="/devices/end-others">');
        for (const { sid } of [ann, annLaptop, annPhone, bob]) expect(list.text).to.not.contain(sid);
        expect(await demo.sessions[1]!.listSessions('Ann')).to.have.length(3);

        // only a same-site HTML form post from a signed-in session ends anything
        await ann.agent.get('/devices/end-others').expect(405);
        await ann.agent.post('/devices/end-others').send({}).expect(415);
        const stranger = await request(callback).post('/devices/end-others').type('form').send('').expect(403);
        expect(stranger.text).to.contain('You are not signed in');
        expect(await demo.sessions[1]!.listSessions('Ann')).to.have.length(3);

        const ended = await ann.agent.post('/devices/end-others').type('form').send('').expect(303);
        expect(ended.headers.location).to.equal('/devices');
        const after = await ann.agent.get('/devices').expect(200);
        expect(after.text).to.contain('Ended 2 other sessions: those devices are signed out now.');
        expect(after.text).to.contain('Signed in on <strong>1</strong> device</p>');
        expect(after.text).to.not.contain('action="/devices/end-others"');
        expect((await ann.agent.get('/devices').expect(200)).text, 'the notice shows once').to.not.contain('id="ended"');
        expect(await demo.sessions[1]!.listSessions('Ann')).to.have.length(1);

        for (const other of [annLaptop, annPhone]) {
          expect((await other.agent.get('/').expect(200)).text).to.contain('You are not signed in.').and.match(/id="views">1</);
        }
        expect((await ann.agent.get('/').expect(200)).text).to.contain('Signed in as <strong id="user">Ann</strong>');
        expect((await bob.agent.get('/').expect(200)).text).to.contain('Signed in as <strong id="user">Bob</strong>');

        // once more with nobody else signed in: nothing to end, and it says so
        await ann.agent.post('/devices/end-others').type('form').send('').expect(303);
        expect((await ann.agent.get('/devices').expect(200)).text).to.contain('No other session was signed in.');
      } finally {
        await demo.close();
      }
    });

    it('/devices on a store without an owner index: the demo runs without `owner` and the page says why', async function () {
      const demo = await createApp({ keys: ['demo test key'], store: new RecordingStore() });
      try {
        expect(demo.ownerIndex).to.equal(false);
        const agent = request.agent(demo.app.callback());
        await agent.post('/login').type('form').send({ username: 'Alan' }).expect(303);
        const page = await agent.get('/devices').expect(200);
        expect(page.text).to.contain('This store (RecordingStore) cannot list the sessions of one user yet');
        expect(page.text).to.not.contain('action="/devices/end-others"');
        await agent.post('/devices/end-others').type('form').send('').expect(501);
        expect((await agent.get('/').expect(200)).text, 'still signed in').to.contain('Signed in as <strong id="user">Alan</strong>');
      } finally {
        await demo.close();
      }
    });

    it('`node example/server.mjs` listens on 127.0.0.1 at PORT, prints its URL and stops on SIGTERM', async function () {
      const server = await spawnServer({ PORT: '0', REDIS_URL: '' });
      try {
        expect(server.stdout()).to.contain('session store: MemoryStore');
        // a browser-like client that keeps its connection open after the response
        const agent = new http.Agent({ keepAlive: true });
        try {
          const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
            http.get(server.base + '/', { agent }, resolve).once('error', reject),
          );
          let body = '';
          for await (const chunk of res) body += chunk;
          expect(res.statusCode).to.equal(200);
          expect(res.headers.connection).to.equal('keep-alive');
          expect(body).to.contain('koa-generic-session-ts demo');
          // the idle keep-alive connection does not hold the shutdown up
          expect(await server.stop()).to.deep.equal({ code: 0, signal: null, stderr: '' });
          expect(server.stdout()).to.contain('SIGTERM: stopping\nstopped\n');
        } finally {
          agent.destroy();
        }
      } finally {
        server.kill();
      }
    });
  });

  describe('on Redis (REDIS_URL)', function () {
    let redis: RedisServer;

    before(async function () {
      // fails with the apt-get command when redis-server is missing
      redis = await RedisServer.start({ label: 'demo' });
    });

    after(async function () {
      await redis?.remove();
    });

    it('keeps the sessions in Redis: counter, login (old key gone), defer section, logout, clean stop', async function () {
      const server = await spawnServer({ PORT: '0', REDIS_URL: redis.url });
      try {
        expect(server.stdout()).to.contain(`session store: RedisStore at ${redis.url}`);
        const jar = new CookieJar();
        const get = async (path: string) => jar.fetch(server.base + path);
        const post = async (path: string, form: Record<string, string>) =>
          jar.fetch(server.base + path, { method: 'POST', body: new URLSearchParams(form), redirect: 'manual' });
        const keys = async (pattern: string) => ((await redis.command('KEYS', pattern)) as string[]).sort();

        expect(await (await get('/')).text()).to.match(/id="views">1</);
        const page = await (await get('/')).text();
        expect(page).to.match(/id="views">2</).and.contain(`RedisStore at ${redis.url}`).and.contain('status available');
        const sid = jar.get('koa.sid');
        expect(await keys('demo:sess:*')).to.deep.equal([`demo:sess:${sid}`]);
        const stored = JSON.parse(String(await redis.command('GET', `demo:sess:${sid}`))) as Record<string, unknown>;
        expect(stored).to.include({ views: 2 });
        // the cookie's maxAge (one day) is the key's ttl
        const pttl = Number(await redis.command('PTTL', `demo:sess:${sid}`));
        expect(pttl).to.be.above(86_300_000).and.at.most(86_400_000);

        expect((await post('/login', { username: 'Barbara' })).status).to.equal(303);
        const newSid = jar.get('koa.sid');
        expect(newSid).to.be.a('string').and.not.equal(sid);
        expect(await keys('demo:sess:*'), 'the pre-login key is destroyed').to.deep.equal([`demo:sess:${newSid}`]);
        expect(await (await get('/')).text()).to.contain('Signed in as <strong id="user">Barbara</strong>');
        expect(await keys('demo:owner:*'), 'the owner index, under the demo prefix').to.not.deep.equal([]);

        expect(await (await get('/defer')).text()).to.match(/id="visits">1</);
        expect(await keys('demo:defer:*')).to.deep.equal([`demo:defer:${jar.get('koa.sid.defer')}`]);

        expect((await post('/logout', {})).status).to.equal(303);
        expect(await keys('demo:sess:*')).to.deep.equal([]);
        expect(await keys('demo:owner:*'), 'logging out drops the owner index entry too').to.deep.equal([]);
        expect(jar.get('koa.sid')).to.equal(undefined);

        // SIGTERM quits the Redis client too: the process exits by itself
        expect(await server.stop()).to.deep.equal({ code: 0, signal: null, stderr: '' });
      } finally {
        server.kill();
      }
    });

    it('"Log out everywhere else" on Redis: the other sessions\' keys are deleted and their cookies open fresh sessions', async function () {
      const server = await spawnServer({ PORT: '0', REDIS_URL: redis.url });
      try {
        const keys = async (pattern: string) => ((await redis.command('KEYS', pattern)) as string[]).sort();
        const signIn = async (name: string) => {
          const jar = new CookieJar();
          await jar.fetch(server.base + '/');
          const res = await jar.fetch(server.base + '/login', {
            method: 'POST',
            body: new URLSearchParams({ username: name }),
            redirect: 'manual',
          });
          expect(res.status).to.equal(303);
          return jar;
        };
        const [ada, laptop, phone, bob] = [await signIn('Ada'), await signIn('Ada'), await signIn('Ada'), await signIn('Bob')];
        const get = async (jar: CookieJar, path: string) => (await jar.fetch(server.base + path)).text();
        expect(await keys('demo:sess:*')).to.have.length(4);
        // the owner index lives under the demo's own prefix, beside the sessions
        expect(await keys('demo:owner:*')).to.deep.equal([
          'demo:owner:{Ada}',
          'demo:owner:{Ada}:meta',
          'demo:owner:{Bob}',
          'demo:owner:{Bob}:meta',
        ]);
        expect(Number(await redis.command('ZCARD', 'demo:owner:{Ada}'))).to.equal(3);
        expect((await keys('*')).filter((k) => !k.startsWith('demo:'))).to.deep.equal([]);

        const list = await get(ada, '/devices');
        expect(list).to.contain('Signed in on <strong>3</strong> devices').and.contain(`RedisStore at ${redis.url}`);
        for (const jar of [ada, laptop, phone, bob]) expect(list).to.not.contain(jar.get('koa.sid'));

        const ended = await ada.fetch(server.base + '/devices/end-others', { method: 'POST', body: new URLSearchParams(), redirect: 'manual' });
        expect(ended.status).to.equal(303);
        expect(await get(ada, '/devices')).to.contain('Ended 2 other sessions').and.contain('Signed in on <strong>1</strong> device<');
        expect(await keys('demo:sess:*')).to.deep.equal(
          [`demo:sess:${ada.get('koa.sid')}`, `demo:sess:${bob.get('koa.sid')}`].sort(),
        );
        expect(Number(await redis.command('ZCARD', 'demo:owner:{Ada}'))).to.equal(1);
        for (const jar of [laptop, phone]) expect(await get(jar, '/')).to.contain('You are not signed in.');
        expect(await get(ada, '/')).to.contain('Signed in as <strong id="user">Ada</strong>');
        expect(await get(bob, '/')).to.contain('Signed in as <strong id="user">Bob</strong>');
        expect(await server.stop()).to.deep.equal({ code: 0, signal: null, stderr: '' });
      } finally {
        server.kill();
      }
    });
  });
});
