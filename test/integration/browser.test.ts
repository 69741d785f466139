/**
 * RudderStack's browser SDK (@rudderstack/analytics-js, UMD build) in headless Chromium, on a page
 * served from another 127.0.0.1 origin than the gateway: it loads its source config from Ferry,
 * passes CORS preflights with its own headers, and its identify/track/page reach the destination.
 * Needs /usr/bin/chromium (scripts/ensure-chromium.sh installs it).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { PROJECT_ROOT } from '../../config/paths';
import { TestPipeline, uniqueId, webhookDestination, workspaceWith } from '../support/pipeline';
import { Receiver } from '../support/receiver';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  // Nothing may leave 127.0.0.1: no other host name resolves, and every non-loopback request goes to a
  // proxy that is not there (Chromium never proxies loopback).
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--proxy-server=http://127.0.0.1:9',
];
// The package's exports map hides dist/, so the bundle is found by path.
const SDK_BUNDLE = path.join(PROJECT_ROOT, 'node_modules', '@rudderstack', 'analytics-js', 'dist', 'npm', 'modern', 'bundled', 'umd', 'index.js');

let receiver: Receiver;
let pipeline: TestPipeline;
let site: http.Server;
let siteUrl = '';
let browser: Browser;
/** Pages the site serves, by path. */
const pages = new Map<string, string>();
const sourceId = uniqueId('src');
const writeKey = uniqueId('wk');

/** The page under test: loads the SDK, then identifies, tracks and pages once it is ready. */
function pageHtml(gatewayUrl: string, userId: string): string {
  const settings = JSON.stringify({ writeKey, gatewayUrl, userId });
  return `<!doctype html>
<html><head><title>Ferry browser test</title><script src="/sdk.js"></script></head>
<body><script>
  const { writeKey, gatewayUrl, userId } = ${settings};
  const analytics = new window.rudderanalytics.RudderAnalytics();
  analytics.load(writeKey, gatewayUrl, { configUrl: gatewayUrl, logLevel: 'ERROR' });
  analytics.ready(() => {
    analytics.identify(userId, { email: 'browser@example.com' });
    analytics.track('Button Clicked', { button: 'buy' });
    analytics.page('Docs', 'Getting Started', { section: 'intro' });
    window.ferrySent = true;
  });
</script></body></html>`;
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (as root) first`);
  receiver = await Receiver.start();
  pipeline = await TestPipeline.start({ workspace: workspaceWith(sourceId, writeKey, [webhookDestination('hook', `${receiver.url}/browser`)]) });
  const bundle = fs.readFileSync(SDK_BUNDLE);
  site = http.createServer((req, res) => {
    const file = (req.url ?? '/').split('?')[0]!;
    if (file === '/sdk.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else if (pages.has(file)) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(pages.get(file));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
  site?.closeAllConnections();
  await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
  await pipeline?.close();
  await receiver?.close();
});

describe('RudderStack browser SDK in Chromium', () => {
  it('loads its config from Ferry and delivers identify, track and page', async () => {
    const userId = uniqueId('browser-user');
    pages.set('/', pageHtml(pipeline.gatewayUrl, userId));
    const context = await browser.newContext();
    const page = await context.newPage();
    const gatewayRequests: string[] = [];
    const elsewhere: string[] = [];
    const consoleErrors: string[] = [];
    // Observed, not intercepted: with interception on, Playwright answers CORS preflights itself, and
    // the test would no longer show that Ferry's CORS headers satisfy Chromium.
    context.on('request', (request) => {
      const url = new URL(request.url());
      if (url.origin === pipeline.gatewayUrl) gatewayRequests.push(`${request.method()} ${url.pathname}`);
      else if (url.hostname !== '127.0.0.1') elsewhere.push(url.href);
    });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    try {
      await page.goto(`${siteUrl}/`);
      await page.waitForFunction(() => (globalThis as unknown as { ferrySent?: boolean }).ferrySent === true, undefined, { timeout: 30_000 });
      const mine = () => receiver.deliveredBodies<Record<string, unknown>>().filter((b) => b.userId === userId);
      await receiver.waitFor(() => mine().length >= 3, 60_000, 'identify, track and page from the browser');
      const delivered = mine();
      expect(delivered.map((b) => b.type).sort()).toEqual(['identify', 'page', 'track']);
      const byType = Object.fromEntries(delivered.map((b) => [b.type as string, b]));
      expect(byType.identify).toMatchObject({ context: { traits: { email: 'browser@example.com' } } });
      expect(byType.track).toMatchObject({ event: 'Button Clicked', properties: { button: 'buy' } });
      expect(byType.page).toMatchObject({ name: 'Getting Started', properties: { section: 'intro' } });
      for (const body of delivered) {
        expect(body).toMatchObject({ anonymousId: expect.any(String), context: { library: { name: expect.stringMatching(/RudderLabs JavaScript SDK/) } } });
        expect(body.anonymousId).toBe(delivered[0]!.anonymousId);
      }
      expect(gatewayRequests).toEqual(expect.arrayContaining(['GET /sourceConfig/', 'POST /v1/identify', 'POST /v1/track', 'POST /v1/page']));
      expect(consoleErrors.filter((e) => /CORS|not allowed/i.test(e))).toEqual([]);
      expect(elsewhere).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
