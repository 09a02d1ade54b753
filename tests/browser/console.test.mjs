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
let pauseAgent = false;

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

function phone(name, ...args) {
  return execFileSync(bin('contacts-agent'), ['--home', join(work, name), ...args], { encoding: 'utf8' });
}

// A device the test plays itself over the device API (enrolled with fetch), for states a
// real phone reaches only slowly: failing, overdue, a command picked up but not done.
async function fakeDevice(name, report) {
  const created = await admin('POST', '/v1/admin/devices', { name });
  const r = await fetch(url + '/v1/enroll', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ enrollment_code: created.enrollment_code, device_name: name }),
  });
  assert.ok(r.ok, `enroll -> ${r.status}`);
  const { token } = await r.json();
  const device = (path, init = {}) => fetch(url + path, {
    ...init, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
  });
  if (report) {
    const s = await device('/v1/device/status', {
      method: 'POST',
      body: JSON.stringify({ reported_at: new Date().toISOString(), managed_count: 0, managed_fingerprint: '', ...report }),
    });
    assert.equal(s.status, 204);
  }
  return { id: created.device.id, device };
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
      if (!pauseAgent) try { agent('run-due'); } catch (e) { /* a failed run is recorded by the agent */ }
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

// The number an element starts with ("1,234 verified: ..." -> 1234).
async function count(page, selector) {
  const m = (await page.textContent(selector)).trim().match(/^[\d,\s\u00a0]+/);
  return m ? Number(m[0].replace(/\D/g, '')) : NaN;
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
  await page.goto(url + '/console/devices');
  assert.match(await page.textContent('#devices'), /Test phone/);
  await page.goto(`${url}/console/devices/${deviceId}`);
  const harvey = await members(['harvey']);
  await until('the first sync', async () => {
    await page.reload();
    return await count(page, '#contact-count') === harvey.size;
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
      && await count(page, '#contact-count') === everyone.size;
  });
  assert.match(await page.textContent('#synced-total'), new RegExp(`^${everyone.size} contacts`));
  await page.screenshot({ path: join(shots, 'device-details.png'), fullPage: true });
  await page.close();
});

test('what the phone holds: a server change the phone does not have yet shows as pending, not as the phone\'s', async () => {
  const page = await browser.newPage();
  await signIn(page);
  const harvey = [...await members(['harvey'])].sort();
  const user = await admin('GET', `/v1/admin/users/${harvey[0]}`);
  const before = user.contact.display_name;
  await page.goto(`${url}/console/devices/${deviceId}`);
  await until('the phone to be up to date', async () => {
    await page.reload();
    return /Up to date/.test(await page.textContent('#held-pending'));
  });
  pauseAgent = true;
  try {
    await new Promise((r) => setTimeout(r, 1500)); // a run under way ends
    const { groups, ...contact } = user.contact;
    await admin('PUT', `/v1/admin/users/${user.id}`, { ...contact, display_name: 'Renamed On Server' });
    await page.goto(`${url}/console/devices/${deviceId}?q=${encodeURIComponent(before)}`);
    assert.match(await page.textContent('#held-pending'), /^Pending changes: 1 —/);
    // The phone still holds the old name: listed as held, marked as changing.
    assert.equal(await page.locator('#held tbody tr.pending').count(), 1);
    assert.match(await page.textContent('#held'), new RegExp(before));
    await page.goto(`${url}/console/devices/${deviceId}?q=Renamed`);
    assert.equal(await page.locator('#held tbody tr').count(), 0);
    await page.screenshot({ path: join(shots, 'held-pending.png'), fullPage: true });
  } finally {
    pauseAgent = false;
  }
  await submit(page, '#sync-now');
  await until('the phone to take the change', async () => {
    await page.goto(`${url}/console/devices/${deviceId}?q=Renamed`);
    return (await page.locator('#held tbody tr').count()) === 1;
  });
  assert.match(await page.textContent('#held-pending'), /Up to date/);
  await admin('PUT', `/v1/admin/users/${user.id}`, (({ groups, ...c }) => c)(user.contact));
  await page.close();
});

test('Synchronize contacts moves Last contacts sync within seconds', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.goto(`${url}/console/devices/${deviceId}`);
  // The exact time (the text is relative: "just now" before and after).
  const before = await page.getAttribute('#last-sync time', 'datetime');
  assert.ok(before);
  await new Promise((r) => setTimeout(r, 1100)); // timestamps have second resolution
  await submit(page, '#sync-now');
  await until('the forced sync', async () => {
    await page.reload();
    return await page.getAttribute('#last-sync time', 'datetime') !== before;
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
  // (The browser's own request context: the console's CSP lets no script on its pages fetch.)
  const forged = (await page.request.post(`${url}/console/devices/${deviceId}/sync`, {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, data: 'csrf=guessed', maxRedirects: 0,
  })).status();
  assert.equal(forged, 403);
  // Every other form of the console is behind the same check: nothing is created or changed.
  const before = [(await admin('GET', '/v1/admin/devices?limit=1000')).length, (await admin('GET', '/v1/admin/policies')).length,
    (await admin('GET', `/v1/admin/devices/${deviceId}`)).policy_id];
  for (const [path, data] of [
    ['/console/devices', 'name=Forged'], [`/console/devices/${deviceId}/policy`, 'policy_id='],
    [`/console/devices/${deviceId}/retire`, 'confirm=yes'], [`/console/devices/${deviceId}/code`, ''],
    ['/console/policies', 'name=Forged&basic_type=all_groups&sync_interval=daily&backup_interval=off'],
    ['/console/policies/console', 'name=Forged&basic_type=none&sync_interval=daily&backup_interval=off'],
    ['/console/settings', 'lang=pl'], ['/console/logout', ''],
  ]) {
    const r = await page.request.post(url + path, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, data: `csrf=guessed&${data}`, maxRedirects: 0,
    });
    assert.equal(r.status(), 403, path);
  }
  assert.deepEqual([(await admin('GET', '/v1/admin/devices?limit=1000')).length, (await admin('GET', '/v1/admin/policies')).length,
    (await admin('GET', `/v1/admin/devices/${deviceId}`)).policy_id], before);
  assert.equal((await admin('GET', `/v1/admin/devices/${deviceId}`)).state, 'enrolled');
  // No cookie at all (another site's form): sent to sign-in, nothing done.
  const anonymous = await fetch(`${url}/console/devices/${deviceId}/sync`, { method: 'POST', redirect: 'manual', body: 'csrf=x' });
  assert.equal(anonymous.status, 303);
  assert.equal(await pending(), commands);
  const asDevice = (await page.request.get(`${url}/v1/device/policy`)).status();
  assert.equal(asDevice, 401);
  const blocked = await page.evaluate(async () => { try { await fetch('/v1/device/policy'); return 'fetched'; } catch { return 'blocked'; } });
  assert.equal(blocked, 'blocked', 'the CSP lets no script on a console page fetch');
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
  await page.goto(url + '/console/devices?filter=all&sort=created');
  assert.match(await page.textContent('#devices'), /Revoked/);
  await page.goto(`${url}/console/devices/${lost.device.id}`);
  assert.match(await page.textContent('#device-state'), /^Revoked Revoked (just now|\d+ min ago)/);
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
  assert.match(await page.textContent('#policies'), /Company, department, job title, office, manager, assistant; Work numbers/);
  assert.doesNotMatch(await page.textContent('#policies'), /Private mobile numbers/);
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

test('the dashboard counts devices by state; each tile opens the list so filtered; paging past the end is said', async () => {
  const now = Date.now();
  const failing = await fakeDevice('Failing phone', { last_sync_at: new Date(now - 60000).toISOString(), last_sync_result: 'failed: network unreachable' });
  const overdue = await fakeDevice('Overdue phone', {
    last_sync_at: new Date(now - 26 * 3600e3).toISOString(), last_sync_result: 'ok',
    next_sync_at: new Date(now - 2 * 3600e3).toISOString(),
  });
  const never = await fakeDevice('Silent phone');
  const page = await browser.newPage();
  await signIn(page);
  const counts = await admin('GET', '/v1/admin/devices?filter=all&limit=1000');
  const tile = async (f) => Number((await page.textContent(`#tile-${f} .n`)).replace(/\D/g, ''));
  assert.equal(await tile('all'), counts.length);
  assert.ok(await tile('failing') >= 1 && await tile('overdue') >= 1 && await tile('never_synced') >= 1);
  await submit(page, '#tile-failing');
  assert.match(page.url(), /filter=failing/);
  const listed = await page.textContent('#devices');
  assert.match(listed, /Failing phone/);
  assert.doesNotMatch(listed, /Overdue phone|Silent phone|Test phone/);
  await page.goto(url + '/console');
  await submit(page, '#tile-overdue');
  assert.match(await page.textContent('#devices'), /Overdue phone/);
  assert.doesNotMatch(await page.textContent('#devices'), /Failing phone/);
  await page.goto(url + '/console');
  await submit(page, '#tile-never_synced');
  assert.match(await page.textContent('#devices'), /Silent phone/);
  // The API pages the same way, and an offset past the end is an empty page.
  const byFilter = async (q) => (await admin('GET', `/v1/admin/devices?${q}`)).map((d) => d.id);
  assert.deepEqual(await byFilter('filter=failing'), [failing.id]);
  assert.ok((await byFilter('filter=overdue')).includes(overdue.id));
  assert.ok((await byFilter('filter=never_synced')).includes(never.id));
  const past = await fetch(url + '/v1/admin/devices?offset=100000', { headers: { Authorization: `Bearer ${token}` } });
  assert.deepEqual([past.status, await past.json(), past.headers.get('devices-more')], [200, [], 'false']);
  const bad = await fetch(url + '/v1/admin/devices?filter=bogus', { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(bad.status, 400);
  await page.goto(url + '/console/devices?offset=100000');
  assert.match(await page.textContent('#past-end'), /past the end/);
  await submit(page, '#first-page');
  assert.ok(await page.locator('#devices tbody tr').count() > 0);
  // Two per page through the API: next and previous pages meet.
  const first = await byFilter('sort=name&limit=2');
  const second = await byFilter('sort=name&limit=2&offset=2');
  assert.equal(first.length, 2);
  assert.ok(second.every((id) => !first.includes(id)));
  await page.close();
});

test('users and groups are searchable and paged both ways; a group lists its members and the policies naming it', async () => {
  const page = await browser.newPage();
  await signIn(page);
  await page.goto(url + '/console/users');
  assert.match(await page.textContent('#users-total'), /^300 users/);
  await submit(page, '#next-page');
  assert.match(await page.textContent('.pager .range'), /^51–100/);
  await submit(page, '#prev-page');
  assert.match(await page.textContent('.pager .range'), /^1–50/);
  const someone = await admin('GET', '/v1/admin/users/u-000007');
  await page.fill('input[name=q]', someone.contact.display_name);
  await submit(page, 'form.search button');
  assert.match(await page.textContent('#users'), new RegExp(someone.contact.display_name));
  await page.goto(url + '/console/users?offset=5000');
  assert.match(await page.textContent('#past-end'), /past the end/);

  // A policy made in the console, naming group Mike; the group's page lists it.
  await page.goto(url + '/console/policies');
  await submit(page, '#new-policy');
  await page.fill('#name', 'Mike only');
  await page.check('input[name=group][value=mike]');
  await page.selectOption('#sync_interval', 'weekly');
  await page.selectOption('#backup_interval', 'weekly');
  await submit(page, '#save');
  assert.match(await page.textContent('#saved'), /Saved/);
  const made = (await admin('GET', '/v1/admin/policies')).find((p) => p.name === 'Mike only');
  assert.deepEqual([made.additional_groups, made.sync_interval, made.backup_interval], [['mike'], 'weekly', 'weekly']);
  await page.goto(url + '/console/policies');
  // One vocabulary: the backup and the sync interval read the same.
  const row = await page.locator('#policies tr', { hasText: 'Mike only' }).textContent();
  assert.equal((row.match(/Once a week/g) ?? []).length, 2);
  await page.goto(url + '/console/groups');
  await submit(page, 'a[href="/console/groups/mike"]');
  assert.match(await page.textContent('#group-policies'), /Mike only/);
  const mike = await members(['mike']);
  assert.match(await page.textContent('#group-members'), new RegExp(`^Members of the group${mike.size} users`));
  await page.close();
});

test('add device: code and QR, the CLI enrolls with that code, the console shows it enrolled and synced; assign policy; Synchronize contacts queued, picked up, done; retire', async () => {
  const everyone = await admin('POST', '/v1/admin/policies', { name: 'Everyone', basic_type: 'all_groups', sync_interval: 'daily' });
  const page = await browser.newPage();
  await signIn(page);
  await page.goto(url + '/console/devices');
  await submit(page, '#add-device');
  // The user is picked from a list of names and ids, not typed blind.
  assert.ok(await page.locator('#user-choices option').count() >= 300);
  assert.equal(await page.getAttribute('#user-choices option:first-child', 'value'), 'u-000000');
  assert.ok((await page.textContent('#user-choices option:first-child')).trim().length > 0, 'a name beside the id');
  assert.equal(await page.getAttribute('#user_id', 'list'), 'user-choices');
  await page.fill('#name', 'Second phone');
  await page.fill('#user_id', 'u-999999');
  await page.selectOption('#policy_id', 'console');
  // A user that does not exist: the form again, with why and what was typed; nothing created.
  const before = (await admin('GET', '/v1/admin/devices?limit=500')).length;
  await submit(page, '#create-device');
  assert.match(page.url(), /\/console\/devices$/);
  assert.match(await page.textContent('#form-error'), /No user has this id/);
  assert.equal(await page.inputValue('#name'), 'Second phone');
  assert.equal(await page.inputValue('#user_id'), 'u-999999');
  assert.equal(await page.inputValue('#policy_id'), 'console');
  assert.equal((await admin('GET', '/v1/admin/devices?limit=500')).length, before);
  await page.screenshot({ path: join(shots, 'add-device-refused.png'), fullPage: true });
  await page.fill('#user_id', 'u-000002');
  await submit(page, '#create-device');
  const id = page.url().split('/').pop();
  assert.match(await page.textContent('#device-state'), /Waiting for enrollment/);
  const code = (await page.textContent('#enrollment-code')).trim();
  assert.match(code, /^[0-9a-f]{24}$/);
  assert.equal(await page.locator('#qr svg').count(), 1);
  assert.equal(await page.textContent('#enrollment-link'), `${url}/enroll#code=${code}`);
  assert.match(await page.textContent('#enroll-command'), new RegExp(`--code ${code}`));
  assert.equal(await page.locator('#sync-now').count(), 0, 'a never-enrolled device offers no sync');
  await page.screenshot({ path: join(shots, 'add-device-code.png'), fullPage: true });

  phone('phone2', 'enroll', '--server', url, '--code', code, '--name', 'Second phone');
  phone('phone2', 'run-due');
  await page.reload();
  assert.match(await page.textContent('#device-state'), /Enrolled/);
  assert.notEqual((await page.textContent('#last-sync')).trim(), '—');
  // The history says why the run ran and how long it took, as the phone reported.
  const lastRun = async () => ({
    why: (await page.textContent('#runs tbody tr:first-child td:nth-child(2)')).trim(),
    took: (await page.textContent('#runs tbody tr:first-child td:nth-child(4)')).trim(),
  });
  let run = await lastRun();
  assert.equal(run.why, 'new policy applied');
  assert.match(run.took, /^(\d+ ms|\d+\.\d s|\d+ s)$/);
  assert.equal(await page.locator('#qr').count(), 0, 'no QR once enrolled');
  const qr = await fetch(`${url}/v1/admin/devices/${id}/enrollment-qr`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(qr.status, 409);

  // Assign another policy.
  await page.selectOption('#assign-policy select', everyone.id);
  await submit(page, '#assign-policy button');
  assert.match(await page.textContent('#assigned'), /Policy assigned/);
  assert.equal((await admin('GET', `/v1/admin/devices/${id}`)).policy_id, everyone.id);
  phone('phone2', 'run-due');
  await page.goto(`${url}/console/devices/${id}`);
  assert.match(await page.textContent('#sync-type'), /all groups/);
  assert.ok(Number((await page.textContent('#contact-count')).replace(/[^\d]/g, '')) > 0);

  // Synchronize contacts: queued (the page reloads itself), then done by the phone's run.
  await submit(page, '#sync-now');
  assert.match(await page.textContent('#sync-command'), /queued/);
  assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 1);
  phone('phone2', 'run-due');
  await until('the page to reload itself and say done', async () => /done/.test(await page.textContent('#sync-command')), 10000);
  assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 0);
  run = await lastRun();
  assert.equal(run.why, 'forced by console');
  assert.match(run.took, /^(\d+ ms|\d+\.\d s|\d+ s)$/);

  // Picked up: a device that polled its commands but has not run them yet.
  const polled = await fakeDevice('Polling phone');
  await page.goto(`${url}/console/devices/${polled.id}`);
  await submit(page, '#sync-now');
  assert.match(await page.textContent('#sync-command'), /queued/);
  assert.equal((await polled.device('/v1/device/commands')).status, 200);
  await until('picked up', async () => /picked up at/.test(await page.textContent('#sync-command')), 10000);
  await page.screenshot({ path: join(shots, 'sync-picked-up.png'), fullPage: true });

  // Retire: behind a confirmation; the phone removes the business contacts and unenrolls.
  await page.goto(`${url}/console/devices/${id}`);
  assert.equal(await page.isVisible('#retire-confirm'), false);
  await page.click('#retire summary');
  await submit(page, '#retire-confirm');
  assert.match(await page.textContent('#device-state'), /Retiring/);
  assert.match(await page.textContent('#retiring'), /waiting for the phone/);
  const out = phone('phone2', 'run-due');
  const removed = Number(out.match(/retired by the admin: (\d+) business contacts removed/)[1]);
  assert.ok(removed > 0, out);
  await until('the page to show it retired', async () => /Retired/.test(await page.textContent('#device-state')), 10000);
  assert.equal(await page.locator('#retire-confirm').count(), 0);
  // Retiring twice: refused with the reason, nothing changes.
  const again = await page.request.post(`${url}/console/devices/${id}/retire`, {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    data: `csrf=${await page.inputValue('input[name=csrf]')}&confirm=yes`, maxRedirects: 0,
  });
  assert.equal(again.status(), 409);
  assert.match(await again.text(), /already retired/);
  await page.screenshot({ path: join(shots, 'retired-device.png'), fullPage: true });
  await page.close();
});

test('the enrollment link opens a page that shows its code from the fragment and how to enroll, in both languages, without console errors', async () => {
  const created = await admin('POST', '/v1/admin/devices', { name: 'Link phone' });
  const link = created.enrollment_link;
  assert.equal(link, `${url}/enroll#code=${created.enrollment_code}`);
  for (const [lang, title, why] of [['en', 'Enroll a phone', /never sends to a server/], ['pl', 'Rejestracja telefonu', /nigdy nie wysyła do serwera/]]) {
    for (const width of [1366, 390]) {
      const context = await browser.newContext({ locale: lang === 'pl' ? 'pl-PL' : 'en-US', viewport: { width, height: 900 } });
      const page = await context.newPage();
      const problems = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('response', (resp) => { if (resp.status() >= 400) problems.push(`${resp.status()} ${resp.url()}`); });
      const r = await page.goto(link);
      assert.equal(r.status(), 200);
      assert.match(r.headers()['content-security-policy'], /script-src 'nonce-[0-9a-f]+'/);
      assert.equal(r.headers()['referrer-policy'], 'no-referrer');
      assert.equal(await page.textContent('h1'), title);
      assert.equal(await page.textContent('#code'), created.enrollment_code);
      assert.equal(await page.textContent('#cmd-link'), link);
      assert.equal(await page.textContent('#cmd-code'), created.enrollment_code);
      assert.equal(await page.isVisible('#no-code'), false);
      assert.match(await page.textContent('#why-fragment'), why);
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `wider than ${width} px`);
      await page.screenshot({ path: join(shots, `enroll-link-${lang}-${width}.png`), fullPage: true });
      // Without a code the page says so.
      await page.goto('about:blank');
      await page.goto(url + '/enroll');
      assert.equal(await page.isVisible('#no-code'), true);
      // Markup in the fragment is shown as text; nothing runs.
      await page.goto('about:blank');
      const evil = '<img src=x onerror=window.pwned=1>';
      await page.goto(`${url}/enroll#code=${encodeURIComponent(evil)}`);
      assert.equal(await page.textContent('#code'), evil);
      assert.equal(await page.locator('#code img').count(), 0);
      assert.equal(await page.evaluate(() => window.pwned), undefined);
      assert.deepEqual(problems, []);
      await context.close();
    }
  }
});

test('stored XSS: markup typed into every admin- or import-set text is shown as text and never runs', async () => {
  const payloads = ['<script>window.__xss=1</script>', '<img src=x onerror="window.__xss=2">'];
  const p = (i) => payloads[i % 2] + ' xss' + i;
  await admin('POST', '/v1/admin/groups', { id: 'xss', name: p(0) });
  await admin('POST', '/v1/admin/groups', { id: 'xss2', name: p(1) });
  const contact = {
    display_name: p(1), given_name: p(0), family_name: p(1), prefix: p(0), suffix: p(1), nickname: p(0),
    organization: p(1), department: p(0), title: p(1), note: p(0), office_location: p(1), manager: p(0),
    phones: [{ number: '+48 22 000 00 01', kind: 'custom', label: p(1) }],
    emails: [{ address: 'xss@example.com', kind: 'custom', label: p(0) }],
  };
  // Through a directory import (NDJSON, one user a line), as an HR system would send it.
  const imported = await fetch(url + '/v1/admin/import', {
    method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-ndjson' },
    body: JSON.stringify({ id: 'u-xss', contact, groups: ['xss', 'xss2', 'harvey'] }) + '\n',
  });
  assert.equal(imported.status, 200, await imported.text());
  const policy = await admin('POST', '/v1/admin/policies', { name: p(0), basic_type: 'none', additional_groups: ['xss', 'xss2'], sync_interval: 'daily' });
  const dev = await admin('POST', '/v1/admin/devices', { name: p(1), user_id: 'u-xss', policy_id: policy.id });
  const page = await browser.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  await signIn(page);
  // The main phone holds the contact after its next sync (its policy takes all groups now).
  await admin('POST', `/v1/admin/devices/${deviceId}/sync`);
  await page.goto(`${url}/console/devices/${deviceId}?q=xss`);
  await until('the phone to hold the xss contact', async () => {
    await page.reload();
    return (await page.locator('#held tbody tr').count()) === 1;
  });
  const pages = [
    '/console', '/console/devices', `/console/devices/${deviceId}?q=xss`, `/console/devices/${dev.device.id}`,
    '/console/devices?user_id=u-xss', '/console/policies', `/console/policies/${policy.id}`, '/console/users?q=xss',
    '/console/groups', '/console/groups/xss', '/console/groups/xss2', '/console/groups/harvey?offset=0',
  ];
  for (const path of pages) {
    await page.goto(url + path);
    const found = await page.evaluate(() => ({
      ran: window.__xss ?? null,
      imgs: document.querySelectorAll('img[src="x"]').length,
      scripts: [...document.scripts].filter((s) => s.textContent.includes('__xss')).length,
      text: document.body.textContent,
    }));
    assert.deepEqual([found.ran, found.imgs, found.scripts], [null, 0, 0], path);
  }
  // Shown as text where each field appears.
  await page.goto(`${url}/console/devices/${deviceId}?q=xss`);
  const held = await page.textContent('#held');
  assert.ok(held.includes(p(1)), held);
  await page.goto(url + '/console/policies');
  assert.ok((await page.textContent('#policies')).includes(p(0)));
  await page.goto(`${url}/console/devices/${dev.device.id}`);
  assert.ok((await page.textContent('h1')).includes(p(1)));
  assert.ok((await page.textContent('#device-user')).includes(p(1)));
  await page.goto(url + '/console/groups');
  assert.ok((await page.textContent('#groups')).includes(p(0)));
  assert.deepEqual(dialogs, []);
  await page.close();
});

test('Polish from Accept-Language with the description\'s labels, the admin\'s time zone, switchable and remembered', async () => {
  const context = await browser.newContext({ locale: 'pl-PL', timezoneId: 'Europe/Warsaw' });
  const page = await context.newPage();
  await signIn(page);
  assert.equal(await page.textContent('h1'), 'Pulpit');
  await page.goto(`${url}/console/devices/${deviceId}`);
  const text = await page.textContent('body');
  for (const label of ['Status synchronizacji', 'Typ synchronizacji', 'Interwał synchronizacji',
    'Następna spodziewana synchronizacja kontaktów', 'Ostatnia synchronizacja', 'Synchronizuj kontakty',
    'Kontakty z wszystkich grup', 'Kontakty zapisane na urządzeniu przez synchronizację']) {
    assert.ok(text.includes(label), `missing "${label}"`);
  }
  assert.match(await page.getAttribute('#last-sync time', 'title'), /^\d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d CET$/);
  assert.match(await page.textContent('#last-sync time'), /temu|przed chwilą/);
  assert.equal(await page.textContent('#runs th:nth-child(2)'), 'Powód');
  assert.equal(await page.textContent('#runs th:nth-child(4)'), 'Czas trwania');
  assert.match(await page.textContent('#runs tbody tr:first-child td:nth-child(2)'),
    /^(według harmonogramu|zastosowanie nowej polityki|wymuszona z konsoli|naprawa: .*|ponowienie po błędzie)$/);
  assert.match(await page.textContent('#runs tbody tr:first-child td:nth-child(4)'), /^(\d+ ms|\d+,\d s|\d+ s)$/);
  await submit(page, 'form.langs button[value=en]');
  assert.match(await page.textContent('#sync-status h2'), /^Sync status$/);
  await page.goto(url + '/console/policies');
  assert.equal(await page.textContent('h1'), 'Policies');
  await context.close();
});

test('screenshots at 1366 and 390 px, English and Polish; nothing wider than a phone', async () => {
  for (const lang of ['en', 'pl']) {
    // 1024: a tablet, where tables have just become cards.
    for (const width of [1366, 1024, 390]) {
      const context = await browser.newContext({ locale: lang, viewport: { width, height: 900 }, timezoneId: 'Europe/Warsaw' });
      const page = await context.newPage();
      // Nothing the browser complains about: no CSP violation, no missing resource.
      const problems = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${page.url()}: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
      await signIn(page);
      for (const [name, path] of [['dashboard', '/console'], ['device-list', '/console/devices'],
        ['device-details', `/console/devices/${deviceId}`], ['policy-editor', '/console/policies/console'],
        ['users', '/console/users'], ['groups', '/console/groups'], ['add-device', '/console/devices/new']]) {
        await page.goto(url + path);
        await page.screenshot({ path: join(shots, `${name}-${lang}-${width}.png`), fullPage: true });
        const [overflow, widest] = await page.evaluate(() => {
          const over = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5);
          const last = over[over.length - 1];
          return [document.documentElement.scrollWidth - window.innerWidth, last ? last.outerHTML.slice(0, 120) : ''];
        });
        assert.ok(overflow <= 0, `${name} ${lang} ${width}: ${overflow} px wider than the screen: ${widest}`);
        // Status badges and ids stay on one line (two lines would be a word cut in half).
        const broken = await page.evaluate(() => [...document.querySelectorAll('.badge:not(.long), .id')]
          .filter((e) => e.getClientRects().length > 0
            && e.getBoundingClientRect().height > 2 * parseFloat(getComputedStyle(e).fontSize) + 4)
          .map((e) => e.outerHTML.slice(0, 100)));
        assert.deepEqual(broken, [], `${name} ${lang} ${width}: cut over two lines`);
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  }
});
