// The administration console in a real browser with JavaScript turned off:
// Debian's chromium (playwright-core) signs in through the gateway's pages
// (password, then a TOTP code), reads the overview, looks up a reference,
// opens the organization and runs its preflight — forms and links only.
//
//   BASE       the gateway (http://127.0.0.1:PORT)
//   USERNAME, PASSWORD, TOTP_CODE
//   REFERENCE  a reference code a user quoted
//   ORG        an organization to open
//
// Prints one JSON line with what each page showed; exits non-zero on failure.
import { chromium } from 'playwright-core';

const { BASE, USERNAME, PASSWORD, TOTP_CODE, REFERENCE, ORG } = process.env;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const timer = setTimeout(() => { console.error('timed out'); process.exit(3); }, 60_000);
const text = async (page, sel) => (await page.locator(sel).first().innerText()).trim();
try {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${BASE}/admin`);
  if (!page.url().includes('/login?tx=')) throw new Error(`expected the login page, at ${page.url()}`);
  await page.fill('#username', USERNAME);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  if (!page.url().includes('/mfa?tx=')) throw new Error(`expected the second factor, at ${page.url()}`);
  await page.fill('#code', TOTP_CODE);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/mfa"] button[type=submit]')]);
  if (new URL(page.url()).pathname !== '/admin') throw new Error(`expected the console, at ${page.url()}`);
  const overview = {
    heading: await text(page, 'h1'),
    orgs: await text(page, '#organizations + table'),
    recent: await text(page, '#recent + table'),
  };

  await page.fill('#code', REFERENCE.toLowerCase());
  await Promise.all([page.waitForNavigation(), page.click('form[action="/admin/ref"] button')]);
  const reference = {
    heading: await text(page, 'h1'),
    step: await text(page, '[data-step]'),
    fix: await text(page, '[data-fix]'),
    agent: await text(page, '[data-user-agent]'),
  };

  await Promise.all([page.waitForNavigation(), page.click('a[href="/admin"]')]);
  await Promise.all([page.waitForNavigation(), page.click(`a[href="/admin/orgs/${ORG}"]`)]);
  const org = { heading: await text(page, 'h1'), verdict: await text(page, '[data-verdict]') };
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/preflight"] button')]);
  org.preflight = await page.locator('[data-preflight]').getAttribute('data-preflight');

  console.log(JSON.stringify({ overview, reference, org }));
} catch (e) {
  console.error(String(e && e.stack || e));
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await browser.close();
}
