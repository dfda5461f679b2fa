// A real browser test of passkeys: Debian's chromium driven by
// playwright-core, with Chrome's virtual authenticator (CDP WebAuthn domain)
// standing in for the user's device. Enrolls a passkey on the gateway's real
// pages during a portal login, then logs in again with it.
//
//   AUTHORIZE_URL  the portal's authorization URL (on http://localhost:PORT)
//   USERNAME, PASSWORD
//   CALLBACK       the portal's redirect URI (no portal runs: any page that loads)
//
// Prints PASSKEY_ENROLLED and PASSKEY_LOGIN_OK; exits non-zero on failure.
import { chromium } from 'playwright-core';

const { AUTHORIZE_URL, USERNAME, PASSWORD, CALLBACK } = process.env;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const timer = setTimeout(() => { console.error('timed out'); process.exit(3); }, 60_000);
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  // No portal runs: the gateway's redirect to its callback is the result.
  const toPortal = () =>
    page.waitForResponse((r) => r.status() === 303 && (r.headers()['location'] || '').startsWith(CALLBACK));

  async function password() {
    await page.waitForLoadState('load');
    await page.goto(AUTHORIZE_URL);
    await page.fill('#username', USERNAME);
    await page.click('button[type=submit]');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  }

  await password();
  if (!page.url().includes('/mfa/enroll')) throw new Error(`expected enrollment, at ${page.url()}`);
  await Promise.all([page.waitForNavigation(), page.click('#create-passkey')]);
  if (!(await page.content()).includes('Save your backup codes')) throw new Error('no backup codes page');
  console.log('PASSKEY_ENROLLED');
  await Promise.all([toPortal(), page.click('button[type=submit]')]);

  // Again, as a fresh visit (no session cookie), with the passkey.
  await context.clearCookies();
  await password();
  if (!page.url().includes('/mfa?')) throw new Error(`expected the MFA step, at ${page.url()}`);
  const [done] = await Promise.all([toPortal(), page.click('#use-passkey')]);
  const location = new URL(done.headers()['location']);
  if (!location.searchParams.get('code')) throw new Error(`no code in ${location}`);
  console.log('PASSKEY_LOGIN_OK');
} catch (e) {
  console.error(String(e));
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await browser.close();
}
