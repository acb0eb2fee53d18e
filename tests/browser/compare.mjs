// Cold loads of two (or more) builds of the page, alternating, in one Debian chromium:
// the side-by-side numbers of docs/performance.md. A benchmark, not a test.
//   node tests/browser/compare.mjs DIR_A DIR_B [LOADS]     (DIR: a wasm/www with its pkg/)
// e.g. the page of main beside this tree's:
//   mkdir -p /tmp/main-www && git archive main wasm/www | tar -x -C /tmp/main-www
//   cp -r wasm/www/pkg /tmp/main-www/wasm/www/ && node tests/browser/compare.mjs /tmp/main-www/wasm/www wasm/www
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const args = process.argv.slice(2);
const loads = /^\d+$/.test(args.at(-1)) ? Number(args.pop()) : 12;
if (args.length < 2) {
  console.error('usage: node compare.mjs DIR_A DIR_B [LOADS]');
  process.exit(2);
}
const servers = await Promise.all(args.map((dir) => startServer(dir)));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const runs = args.map(() => []);
for (let i = 0; i < loads; i++) {
  for (const [j, server] of servers.entries()) {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, serviceWorkers: 'block' });
    const page = await ctx.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.firstPlanMs && document.body.dataset.editor);
    runs[j].push(await page.evaluate(() => {
      const m = window.__detscript.metrics;
      return { first_plan_at_ms: m.firstPlanMs, engine_ready_at_ms: m.engineReadyAt, app_start_ms: m.appStartAt, first_plan_compute_ms: m.firstComputeMs };
    }));
    await ctx.close();
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [j, dir] of args.entries()) {
  const summary = Object.fromEntries(Object.keys(runs[j][0]).map((k) => [k, Math.round(median(runs[j].map((r) => r[k])))]));
  console.log(`${dir}: median of ${loads} ${JSON.stringify(summary)}; first plan at ${runs[j].map((r) => Math.round(r.first_plan_at_ms)).join(' ')} ms`);
}
await browser.close();
for (const s of servers) await s.close();
