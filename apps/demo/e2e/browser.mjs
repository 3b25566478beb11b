// Real-browser test of the demo site: headless Chromium (Debian's /usr/bin/chromium)
// driven by playwright-core. Starts the built demo binary on a random port with a
// temporary data folder, then: register, log out, fill a cart while logged out, log in
// with "remember me" (the cart is kept), see the welcome page, open /sessions, log out.
// Saves screenshots of the login, welcome, cart and sessions pages to docs/screenshots/.
//
// Usage: node browser.mjs   (DEMO_BIN = path of the tessera-demo binary; default
// $CARGO_TARGET_DIR/debug/tessera-demo or <repo>/target/debug/tessera-demo;
// CHROMIUM = browser path, default /usr/bin/chromium)

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(repo, process.env.CARGO_TARGET_DIR)
  : path.join(repo, 'target');
const bin = process.env.DEMO_BIN
  ? path.resolve(process.env.DEMO_BIN)
  : path.join(targetDir, 'debug', 'tessera-demo');
const shots = path.join(repo, 'docs', 'screenshots');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const step = (msg) => console.log(`[browser] ${msg}`);

/** Starts the demo; resolves with { child, base } once it prints its URL. */
function startDemo(dataDir) {
  const db = `sqlite://${path.join(dataDir, 'tessera-demo.db')}`;
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    SESSION_STORE: db,
    USER_DB: db,
    DATA_DIR: path.join(dataDir, 'data'),
    RUST_LOG: process.env.RUST_LOG || 'warn',
  };
  delete env.SESSION_SECRET;
  const child = spawn(bin, [], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`demo did not start within 30 s:\n${out}`)), 30_000);
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: m[1] });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => { out += chunk; process.stderr.write(chunk); });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`demo exited with ${code}:\n${out}`)); });
  });
}

async function main() {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tessera-demo-e2e-'));
  await mkdir(shots, { recursive: true });
  let demo;
  let browser;
  try {
    demo = await startDemo(dataDir);
    const base = demo.base;
    step(`demo at ${base}`);
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const context = await browser.newContext({ viewport: { width: 960, height: 640 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const scriptErrors = [];
    // CSP violations and the like (HTTP error statuses of pages are expected: a wrong
    // password answers 401).
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) scriptErrors.push(m.text());
    });

    // The data folder is new for each run, so a fixed address is free.
    const email = 'ada@example.com';
    const password = 'correct horse battery staple';

    step('register');
    await page.goto(`${base}/register`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel(/^Password/).fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/`);
    await page.getByRole('heading', { name: `Welcome, ${email}` }).waitFor();

    step('log out');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();

    step('shop while logged out: add two products, remove one');
    await page.getByRole('link', { name: 'browse the shop' }).click();
    await page.waitForURL(`${base}/cart`);
    await page.getByText('Your cart is empty').waitFor();
    await page.getByRole('button', { name: 'Add Green tea, 100 g to the cart' }).click();
    await page.waitForURL(`${base}/cart`);
    await page.getByRole('button', { name: 'Add Cast-iron teapot to the cart' }).click();
    await page.waitForURL(`${base}/cart`);
    const lines = page.locator('table.cart tbody tr');
    assert.equal(await lines.count(), 2);
    await page.getByRole('button', { name: 'Remove Green tea, 100 g' }).click();
    await page.waitForURL(`${base}/cart`);
    assert.equal(await lines.count(), 1);
    await page.getByText('€39.00').first().waitFor();

    await page.goto(`${base}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByLabel(/Remember me/).check();
    await page.screenshot({ path: path.join(shots, 'login.png') });

    step('a wrong password is refused');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid email or password' }).waitFor();
    assert.equal(await page.getByLabel('Email').inputValue(), email, 'email kept');

    step('log in with remember me');
    await page.getByLabel('Password').fill(password);
    assert.equal(await page.getByLabel(/Remember me/).isChecked(), true, 'remember kept');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/`);
    await page.getByRole('heading', { name: `Welcome, ${email}` }).waitFor();
    const cookie = (await context.cookies()).find((c) => c.name === 'id');
    assert.ok(cookie, 'session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    const days = (cookie.expires - Date.now() / 1000) / 86_400;
    assert.ok(days > 29 && days <= 30.01, `remember-me cookie lasts 30 days (got ${days.toFixed(2)})`);
    await page.getByText('Items in your cart: 1.').waitFor();
    await page.screenshot({ path: path.join(shots, 'welcome.png') });

    step('the cart survived the login');
    await page.getByRole('link', { name: 'your cart' }).click();
    await page.waitForURL(`${base}/cart`);
    assert.equal(await lines.count(), 1);
    await lines.getByRole('cell', { name: 'Cast-iron teapot', exact: true }).waitFor();
    await page.screenshot({ path: path.join(shots, 'cart.png'), fullPage: true });
    await page.goto(`${base}/`);

    step('a second device (API client) for the sessions page');
    const other = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      },
      body: JSON.stringify({ email, password }),
    });
    assert.equal(other.status, 200);

    step('sessions page');
    await page.getByRole('link', { name: 'Your active sessions' }).click();
    await page.waitForURL(`${base}/sessions`);
    await page.getByText('this device').waitFor();
    const rows = page.locator('table.sessions tbody tr');
    assert.equal(await rows.count(), 2);
    await page.getByText('Safari on iOS').waitFor();
    const html = await page.content();
    assert.ok(!html.includes(cookie.value) && !html.includes(decodeURIComponent(cookie.value)), 'no session id in the page');
    await page.screenshot({ path: path.join(shots, 'sessions.png'), fullPage: true });

    step('sign out the other device');
    await page.getByRole('button', { name: 'Sign out all other devices' }).click();
    await page.waitForURL(`${base}/sessions?done=others`);
    assert.equal(await rows.count(), 1);

    step('log out via the confirmation page');
    await page.goto(`${base}/logout`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.goto(`${base}/sessions`);
    await page.waitForURL(`${base}/login`);
    assert.deepEqual(scriptErrors, [], 'no console errors (e.g. CSP violations)');
    step('ok');
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (demo) {
      demo.child.removeAllListeners('exit');
      demo.child.kill('SIGTERM');
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`[browser] FAILED: ${e.stack || e}`);
  process.exit(1);
});
