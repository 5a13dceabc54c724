// browser_test.cjs - the chat page in a real browser: `make test-browser`
// (scripts/test-browser.sh) runs it against a running ex04-server.
//
//   node browser_test.cjs PLAYWRIGHT_CORE_DIR URL
//
// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// opens the page several times: three users join and each sees the user
// list; messages, including HTML and non-ASCII text, reach every page and
// are shown as text; a name that is taken is refused; a name the page's
// pattern refuses never connects; a user who closes the page leaves and the
// others see it.  Any console error or uncaught exception on any page fails
// the test.  Exit status 0 when all holds, 1 with the reason otherwise.
'use strict';

const [modDir, url] = process.argv.slice(2);
if (!modDir || !url) {
  console.error('usage: node browser_test.cjs PLAYWRIGHT_CORE_DIR URL');
  process.exit(2);
}
const { chromium } = require(modDir);

const WAIT = 5000;
const errors = [];

function fail(why) {
  throw new Error(why);
}

async function open(browser, who) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${who}: console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`${who}: exception: ${e.message}`));
  const res = await page.goto(url, { waitUntil: 'load' });
  if (!res || res.status() !== 200) fail(`${who}: GET ${url} answered ${res ? res.status() : 'nothing'}`);
  return { page, context, who };
}

async function join(p, name) {
  await p.page.fill('#name', name);
  await p.page.click('#join button');
}

async function logHas(p, text, what) {
  try {
    await p.page.waitForFunction((t) => document.getElementById('log').textContent.includes(t),
                                 text, { timeout: WAIT });
  } catch (e) {
    const log = await p.page.$eval('#log', (el) => el.textContent);
    fail(`${p.who}: ${what}: "${text}" did not appear within ${WAIT} ms; the page shows: ${JSON.stringify(log.slice(-400))}`);
  }
}

async function usersAre(p, names, what) {
  const want = 'Connected: ' + names.join(', ');
  try {
    await p.page.waitForFunction((w) => document.getElementById('users').textContent === w,
                                 want, { timeout: WAIT });
  } catch (e) {
    const got = await p.page.$eval('#users', (el) => el.textContent);
    fail(`${p.who}: ${what}: the user list should read "${want}", it reads "${got}"`);
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const tag = Math.random().toString(36).slice(2, 8);
    const [alice, bob, carol] = [`alice_${tag}`, `bob_${tag}`, `carol_${tag}`];
    const a = await open(browser, alice);
    const b = await open(browser, bob);
    const c = await open(browser, carol);

    await join(a, alice);
    await logHas(a, 'you joined', 'joining');
    await usersAre(a, [alice], 'after joining alone');
    await join(b, bob);
    await usersAre(b, [alice, bob], 'the list a newcomer receives');
    await logHas(a, `${bob} joined`, 'the others see a join');
    await join(c, carol);
    await usersAre(a, [alice, bob, carol], 'after three joins');

    // HTML and non-ASCII text: shown as text, on every page.
    const text = `hello <b>bold</b> & <img src=x onerror=alert(1)> café ☕ 日本 ${tag}`;
    await a.page.fill('#text', text);
    await a.page.click('#send');
    for (const p of [a, b, c]) {
      await logHas(p, `${alice}: ${text}`, 'a message reaches every page');
      const tags = await p.page.$$eval('#log b, #log img', (els) => els.length);
      if (tags !== 0) fail(`${p.who}: the message's HTML became elements: show it as text (textContent)`);
    }
    await b.page.fill('#text', `reply from ${bob}`);
    await b.page.press('#text', 'Enter');
    await logHas(c, `${bob}: reply from ${bob}`, 'a second sender');

    // A taken name is refused.
    const d = await open(browser, 'dup');
    await join(d, alice);
    await logHas(d, 'error:', 'a taken name is refused with an error');
    await usersAre(a, [alice, bob, carol], 'a refused name never joins');

    // A name the pattern refuses never connects.
    const e = await open(browser, 'bad');
    await e.page.fill('#name', 'not a name!');
    await e.page.click('#join button');
    const valid = await e.page.$eval('#name', (el) => el.checkValidity());
    if (valid) fail('the name field accepts "not a name!": its pattern attribute does not work');
    await e.page.waitForTimeout(300);
    const elog = await e.page.$eval('#log', (el) => el.textContent);
    if (elog.includes('joined') || elog.includes('disconnected'))
      fail(`an invalid name was sent to the server: the page shows ${JSON.stringify(elog)}`);

    // Leaving: carol closes her page.
    await c.context.close();
    await logHas(a, `${carol} left`, 'the others see a leave');
    await usersAre(b, [alice, bob], 'after a leave');

    if (errors.length) fail('errors in the pages:\n  ' + errors.join('\n  '));
    console.log(`browser: ok (3 users, messages with HTML and non-ASCII text, a taken name, an invalid name, a leave; Chromium ${browser.version()})`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error('browser: FAIL: ' + e.message);
  if (errors.length) console.error('  ' + errors.join('\n  '));
  process.exit(1);
});
