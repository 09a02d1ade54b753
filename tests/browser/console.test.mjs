// The admin console in headless Debian chromium (playwright-core, no browser download),
// against the real reference server and a real agent process polling fast.
// Screenshots go to target/screenshots/ (repository root).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const repo = resolve(import.meta.dirname, '..', '..');
const bin = (name) => join(repo, 'target', 'debug', name);
const shots = join(repo, 'target', 'screenshots');
const token = 'browser-test-admin-token-0123456789';
const work = mkdtempSync(join(tmpdir(), 'console-'));
let server, url, browser, agentLoop, deviceId;
let stopAgent = false;

async function admin(method, path, body) {
  const r = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(r.ok, `${method} ${path} -> ${r.status}`);
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}

async function members(groups) {
  const all = new Set();
  for (const g of groups) for (const id of await admin('GET', `/v1/admin/groups/${g}/members`)) all.add(id);
  return all;
}

function agent(...args) {
  return execFileSync(bin('contacts-agent'), ['--home', join(work, 'phone'), ...args], { encoding: 'utf8' });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = spawn(bin('contacts-agent-server'), ['--db', join(work, 'server.db'), '--bind', '127.0.0.1:0', '--seed-users', '300', '--workers', '4'],
    { env: { ...process.env, CONTACTS_ADMIN_TOKEN: token, RUST_LOG: 'warn' } });
  url = await new Promise((ok, fail) => {
    let buf = '';
    server.stderr.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/\S+)/);
      if (m) ok(m[1]);
    });
    server.on('exit', () => fail(new Error('server exited: ' + buf)));
  });
  await admin('POST', '/v1/admin/policies', { id: 'console', name: 'Console test', basic_type: 'none', additional_groups: ['harvey'], sync_interval: 'daily' });
  const created = await admin('POST', '/v1/admin/devices', { name: 'Test phone', user_id: 'u-000001', policy_id: 'console' });
  deviceId = created.device.id;
  agent('enroll', '--server', url, '--code', created.enrollment_code, '--name', 'Test phone');
  // The agent polls fast: run-due in a loop, as the OS scheduler would, much more often.
  agentLoop = (async () => {
    while (!stopAgent) {
      try { agent('run-due'); } catch (e) { /* a failed run is recorded by the agent */ }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  stopAgent = true;
  await agentLoop;
  await browser?.close();
  server?.kill();
  rmSync(work, { recursive: true, force: true });
});

// A form post navigates (often through a redirect): wait for that navigation to finish
// before touching the page again.
async function submit(page, selector) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
}

async function signIn(page, password = token) {
  await page.goto(url + '/console/login');
  await page.fill('input[name=password]', password);
  await submit(page, 'button[type=submit]');
}

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test('a wrong password and a device token are refused', async () => {
  const page = await browser.newPage();
  const resp = await page.goto(url + '/console/login');
  assert.equal(resp.status(), 200);
  await signIn(page, 'not-the-token');
  assert.match(await page.textContent('body'), /Wrong admin token/);
  await page.screenshot({ path: join(shots, 'login-refused.png') });
  // The device's own token is not an admin credential.
  const other = await admin('POST', '/v1/admin/devices', { name: 'Other phone' });
  const enrolled = await (await fetch(url + '/v1/enroll', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ enrollment_code: other.enrollment_code, device_name: 'other' }),
  })).json();
  const deviceToken = enrolled.token;
  assert.ok(deviceToken.length > 20);
  await signIn(page, deviceToken);
  assert.match(await page.textContent('body'), /Wrong admin token/);
  assert.equal((await page.goto(url + '/console')).url(), url + '/console/login');
  await page.close();
});

test('the device page shows the seed\'s fields; a policy change reaches the phone and the console', async () => {
  const page = await browser.newPage();
  await signIn(page);
  assert.match(await page.textContent('body'), /Test phone/);
  await page.goto(`${url}/console/devices/${deviceId}`);
  const harvey = await members(['harvey']);
  await until('the first sync', async () => {
    await page.reload();
    return (await page.textContent('#contact-count')).trim() === String(harvey.size);
  });
  const text = await page.textContent('body');
  for (const label of ['Sync status', 'Sync type', 'Sync interval', 'Next expected contacts sync', 'Last contacts sync', 'Synchronize contacts', 'Contacts saved on the device by the sync']) {
    assert.ok(text.includes(label), `missing "${label}"`);
  }
  assert.equal((await page.textContent('#sync-type')).trim(), 'No contacts');
  assert.equal(await page.locator('#synced tr').count(), Math.min(harvey.size, 50) + 1);

  // Policy editor: no contacts + Harvey → all groups.
  await page.goto(url + '/console/policies/console');
  await page.selectOption('#basic_type', 'all_groups');
  await page.uncheck('input[name=group][value=harvey]');
  await page.screenshot({ path: join(shots, 'policy-editor.png'), fullPage: true });
  await submit(page, '#save');
  assert.match(await page.textContent('#saved'), /Saved/);

  const groups = (await admin('GET', '/v1/admin/groups')).map((g) => g.id);
  const everyone = await members(groups);
  await page.goto(`${url}/console/devices/${deviceId}`);
  await until('the agent to apply the new policy', async () => {
    await page.reload();
    return (await page.textContent('#sync-type')).includes('all groups')
      && (await page.textContent('#contact-count')).trim() === String(everyone.size);
  });
  assert.match(await page.textContent('#synced-total'), new RegExp(`^${everyone.size} contacts`));
  await page.screenshot({ path: join(shots, 'device-details.png'), fullPage: true });
  await page.close();
});

test('Synchronize contacts moves Last contacts sync within seconds', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.goto(`${url}/console/devices/${deviceId}`);
  const before = (await page.textContent('#last-sync')).trim();
  assert.notEqual(before, '—');
  await new Promise((r) => setTimeout(r, 1100)); // timestamps have second resolution
  await submit(page, '#sync-now');
  await until('the forced sync', async () => {
    await page.reload();
    return (await page.textContent('#last-sync')).trim() !== before;
  }, 15000);
  await page.screenshot({ path: join(shots, 'after-force-sync.png'), fullPage: true });
  await page.close();
});

test('a forged form post is refused and an admin session cannot act as a device', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.goto(`${url}/console/devices/${deviceId}`);
  const pending = async () => (await admin('GET', `/v1/admin/devices/${deviceId}/commands`)).length;
  const commands = await pending();
  // Same-origin request with the session cookie but without the form's token.
  const forged = await page.evaluate(async (path) => (await fetch(path, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'csrf=guessed',
  })).status, `/console/devices/${deviceId}/sync`);
  assert.equal(forged, 403);
  // No cookie at all (another site's form): sent to sign-in, nothing done.
  const anonymous = await fetch(`${url}/console/devices/${deviceId}/sync`, { method: 'POST', redirect: 'manual', body: 'csrf=x' });
  assert.equal(anonymous.status, 303);
  assert.equal(await pending(), commands);
  const asDevice = await page.evaluate(async () => (await fetch('/v1/device/policy')).status);
  assert.equal(asDevice, 401);
  await page.close();
});

test('a sign-in posted without the form\'s own token is refused, and a revoked device shows as revoked', async () => {
  // Another site's form (or a script) posting the right token, but without the sign-in
  // form's cookie and hidden field: no session.
  const forged = await fetch(url + '/console/login', {
    method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `password=${encodeURIComponent(token)}`,
  });
  assert.equal(forged.status, 403);
  assert.ok(!(forged.headers.get('set-cookie') ?? '').includes('cas_session='));

  const lost = await admin('POST', '/v1/admin/devices', { name: 'Lost phone' });
  const code = (await admin('POST', `/v1/admin/devices/${lost.device.id}/revoke`)).enrollment_code;
  assert.ok(code.length > 10);
  const page = await browser.newPage();
  await signIn(page);
  assert.match(await page.textContent('body'), /Revoked/);
  await page.goto(`${url}/console/devices/${lost.device.id}`);
  assert.match(await page.textContent('#device-state'), /^Revoked on \d{4}-/);
  await page.screenshot({ path: join(shots, 'revoked-device.png'), fullPage: true });
  await page.close();
});

test('the policy editor limits the fields that leave the server: the phone drops private numbers', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.goto(url + '/console/policies/console');
  // No list yet: every field goes, shown as every box ticked; the name cannot be unticked.
  assert.equal(await page.isChecked('#limit_fields'), false);
  assert.equal(await page.isChecked('#field-photo'), true);
  assert.equal(await page.isDisabled('#field-name'), true);
  await page.check('#limit_fields');
  for (const f of ['photo', 'mobile_phones', 'home_phones']) await page.uncheck(`#field-${f}`);
  await page.screenshot({ path: join(shots, 'policy-fields.png'), fullPage: true });
  await submit(page, '#save');
  assert.match(await page.textContent('#saved'), /Saved/);
  const saved = await admin('GET', '/v1/admin/policies/console');
  assert.deepEqual(saved.fields, ['organization', 'work_phones', 'other_phones', 'work_emails',
    'home_emails', 'other_emails', 'addresses', 'web_and_chat', 'note']);
  assert.equal(await page.isChecked('#limit_fields'), true);
  assert.equal(await page.isChecked('#field-mobile_phones'), false);
  assert.equal(await page.isChecked('#field-work_phones'), true);

  // Seeded private mobiles are +48 5.., work numbers +48 22 ..: the phone keeps only these.
  await until('the phone to drop the private numbers', async () => {
    const held = agent('contacts', '--limit', '100000');
    return held.includes('@pearson-hardman.example') && /\+48 22 /.test(held) && !/\+48 5\d\d /.test(held);
  });
  const status = await admin('GET', `/v1/admin/devices/${deviceId}/status`);
  assert.equal(status.contacts_verified, true);
  await page.goto(url + '/console/policies');
  assert.match(await page.textContent('body'), /Name, organization, work_phones, other_phones/);
  await page.close();
});

test('the policy editor sets a sync window and a rollout spread; a half window is refused', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.goto(url + '/console/policies/console');
  assert.equal(await page.inputValue('#window_start'), '');
  assert.equal(await page.inputValue('#rollout_minutes'), '0');
  await page.fill('#window_start', '01:00');
  await page.fill('#window_end', '05:00');
  await page.fill('#rollout_minutes', '60');
  await submit(page, '#save');
  assert.match(await page.textContent('#saved'), /Saved/);
  let saved = await admin('GET', '/v1/admin/policies/console');
  assert.deepEqual([saved.sync_window, saved.rollout_minutes], [{ start: '01:00', end: '05:00' }, 60]);
  assert.equal(await page.inputValue('#window_end'), '05:00');
  await page.goto(url + '/console/policies');
  assert.match(await page.textContent('body'), /01:00–05:00 \(device time\)/);

  // A start without an end: refused with the reason, nothing saved.
  await page.goto(url + '/console/policies/console');
  await page.fill('#window_end', '');
  await submit(page, '#save');
  assert.match(await page.textContent('body'), /needs both a start and an end/);
  saved = await admin('GET', '/v1/admin/policies/console');
  assert.deepEqual(saved.sync_window, { start: '01:00', end: '05:00' });

  // Back to the whole day, at once (the agent of the other tests keeps syncing promptly).
  await page.goto(url + '/console/policies/console');
  await page.fill('#window_start', '');
  await page.fill('#window_end', '');
  await page.fill('#rollout_minutes', '0');
  await submit(page, '#save');
  saved = await admin('GET', '/v1/admin/policies/console');
  assert.deepEqual([saved.sync_window, saved.rollout_minutes], [null, 0]);
  await page.close();
});
