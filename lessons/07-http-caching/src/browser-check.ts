import { existsSync } from 'node:fs';
import { type CDPSession, chromium } from 'playwright-core';

/**
 * Watch a real browser use this lesson's headers: headless Chromium loads URLs of a running
 * lesson-07 server twice each and prints, for every response, what the page got and what
 * Chromium's network layer did (the status on the wire, the If-None-Match it sent, whether
 * the disk cache answered).
 *
 *     npx tsx lessons/07-http-caching/src/main.ts --port 3170        # in one terminal
 *     npx tsx lessons/07-http-caching/src/browser-check.ts http://127.0.0.1:3170
 *
 * Needs Chromium (`apt-get install -y chromium`, or CHROMIUM_PATH=/path/to/chrome).
 * test/browser.test.ts asserts the same things.
 */
const base = process.argv[2] ?? 'http://127.0.0.1:3170';
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.error(
    `✗ No Chromium at ${executablePath}. Install it with \`apt-get install -y chromium\` or set CHROMIUM_PATH.`,
  );
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath,
  // --no-sandbox for root in a container; the rest stop background traffic to Google's hosts (CI has only loopback).
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-quic',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp: CDPSession = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const sent = new Map<string, string>();
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
    const inm = Object.entries(e.headers).find(([name]) => name.toLowerCase() === 'if-none-match')?.[1];
    sent.set(e.requestId, inm ? `If-None-Match: ${inm}` : 'unconditional');
  });
  cdp.on('Network.responseReceivedExtraInfo', (e) => {
    console.log(`    on the wire: ${e.statusCode}, request ${sent.get(e.requestId) ?? '?'}`);
  });
  cdp.on('Network.responseReceived', (e) => {
    if (e.response.url.endsWith('/favicon.ico')) return;
    const from = e.response.fromDiskCache ? 'from the disk cache, nothing sent' : 'from the network';
    console.log(`    the page got ${e.response.status} ${from}`);
  });

  const paths = ['/employees/42', '/payments?investor=DEMO_INV&from=2024-01-01&to=2024-02-01&limit=20'];
  for (const path of paths) {
    for (const attempt of ['first', 'second']) {
      console.log(`${attempt} visit of ${path}`);
      await page.goto(base + path);
      await page.waitForTimeout(100); // let the protocol events arrive before the next line
    }
  }
} finally {
  await browser.close();
}
