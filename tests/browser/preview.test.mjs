// Browser test of the WASM plan preview (wasm/www), in Debian's chromium driven by
// playwright-core. Run through tests/browser/run.sh, which builds what is missing and
// serves the page on 127.0.0.1 (PREVIEW_URL); run directly, it serves the page itself.
//
// It compares the page with the CLI: `detscript plan scripts/deploy.rhai --param
// keypair=test-key --format json` must be byte-identical to the plan JSON computed in
// the browser for the same script and parameters.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const WWW = join(ROOT, 'wasm/www');
const WASM = join(WWW, 'pkg/detscript_wasm_bg.wasm');
const ARTIFACTS = join(ROOT, 'tests/artifacts');
const CLI = process.env.DETSCRIPT_BIN || join(ROOT, 'target/debug/detscript');
const SCRIPT = 'scripts/deploy.rhai';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const SECRET = 'S3cret-Value-never-shown-7d1f';
const LOAD_RUNS = 5;

let server; // { url, close? }
let browser;
let context;
let page;
let origin;
const requests = [];
const problems = []; // page errors and console errors
const metrics = {};
let cliJson; // CLI stdout, exactly
let cliPlan;

function cli(...args) {
  const run = spawnSync(CLI, args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.error, undefined, `could not run ${CLI}: ${run.error}`);
  assert.equal(run.status, 0, `detscript ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout;
}

/** Byte equality of two long strings, failing with where they first differ (not both texts). */
function assertSameBytes(actual, expected, what) {
  if (actual === expected) return;
  let i = 0;
  while (i < actual.length && actual[i] === expected[i]) i++;
  const at = (s) => JSON.stringify(s.slice(Math.max(0, i - 60), i + 60));
  assert.fail(`${what}: first difference at byte ${i} (lengths ${actual.length} vs ${expected.length})\n  got:      ${at(actual)}\n  expected: ${at(expected)}`);
}

/** Runs `action` and waits for the page to finish the plan that it triggers. */
async function replan(action, expectState) {
  const seq = await page.evaluate(() => Number(document.body.dataset.seq || 0));
  await action();
  await page.waitForFunction((n) => Number(document.body.dataset.seq || 0) > n, seq);
  // Let the debounce settle: no further plan for 2 debounce periods.
  for (let settled = false, tries = 0; !settled; tries++) {
    assert.ok(tries < 20, 'the page keeps re-planning by itself');
    const now = await page.evaluate(() => Number(document.body.dataset.seq));
    await page.waitForTimeout(350);
    settled = now === await page.evaluate(() => Number(document.body.dataset.seq));
  }
  if (expectState) assert.equal(await page.evaluate(() => document.body.dataset.state), expectState);
}

const browserPlanJson = () => page.evaluate(() => window.__detscript.lastGood.plan_json);
const renderedResources = () => page.locator('#view-plan .resource').count();
const lineOfCursor = () => page.evaluate(() => {
  const t = document.getElementById('source');
  return t.value.slice(0, t.selectionStart).split('\n').length;
});

before(async () => {
  assert.ok(existsSync(WASM), `${WASM} is missing: run wasm/build.sh (tests/browser/run.sh does)`);
  assert.ok(existsSync(CLI), `${CLI} is missing: run cargo build -p detscript (tests/browser/run.sh does)`);
  cliJson = cli('plan', SCRIPT, '--param', 'keypair=test-key', '--format', 'json');
  cliPlan = JSON.parse(cliJson);

  server = process.env.PREVIEW_URL ? { url: process.env.PREVIEW_URL } : await startServer(WWW);
  origin = new URL(server.url).origin;
  assert.match(origin, /^http:\/\/127\.0\.0\.1:\d+$/);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, serviceWorkers: 'block' });
  context.on('request', (r) => requests.push(r.url()));
  context.on('websocket', (ws) => requests.push(ws.url()));
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.close?.();
  if (Object.keys(metrics).length) {
    writeFileSync(join(ARTIFACTS, 'preview-metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  }
});

test('loads with scripts/deploy.rhai, every script in the picker and a form from its params', async () => {
  await page.goto(server.url);
  await page.waitForFunction(() => document.body.dataset.state !== 'loading');
  metrics.cold_load_to_first_plan_ms = Math.round(Number(await page.evaluate(() => document.body.dataset.firstPlanMs)));
  assert.deepEqual(problems, []);
  assert.equal(await page.locator('#source').inputValue(), readFileSync(join(ROOT, SCRIPT), 'utf8'));

  const scripts = readdirSync(join(ROOT, 'scripts')).filter((f) => f.endsWith('.rhai')).sort();
  const picked = (await page.locator('#script-picker option').allTextContents()).sort();
  assert.deepEqual(picked, scripts);

  // Line numbers: one per line of the script.
  const lines = readFileSync(join(ROOT, SCRIPT), 'utf8').split('\n').length;
  assert.equal(await page.locator('#gutter > div').count(), lines);

  // The form: every declared parameter, secrets as password fields.
  const declared = await page.evaluate(() => window.__detscript.lastResult.params);
  assert.ok(declared.length > 0, 'deploy.rhai declares parameters');
  for (const p of declared) {
    const input = page.locator(`[data-param="${p.name}"]`);
    assert.equal(await input.count(), 1, `a form field for ${p.name}`);
    if (p.secret) assert.equal(await input.getAttribute('type'), 'password', `${p.name} is a password field`);
  }
  assert.ok(declared.some((p) => p.name === 'keypair' && p.required), 'keypair is required');
});

test('the plan computed in the browser is byte-identical to the CLI', async () => {
  await replan(() => page.fill('[data-param="keypair"]', 'test-key'), 'ok');
  const json = await browserPlanJson();
  if (json !== cliJson) {
    writeFileSync(join(ARTIFACTS, 'plan.browser.json'), json);
    writeFileSync(join(ARTIFACTS, 'plan.cli.json'), cliJson);
  }
  assertSameBytes(json, cliJson, 'browser plan JSON vs CLI (tests/artifacts/plan.{browser,cli}.json)');
  // The JSON tab shows exactly that text.
  assertSameBytes(await page.locator('#view-json pre').textContent(), cliJson, 'JSON tab vs CLI');
  // Rendered: one card per resource, and one graph node each.
  assert.equal(await renderedResources(), cliPlan.resources.length);
  assert.equal(await page.locator('#resource-count').getAttribute('data-count'), String(cliPlan.resources.length));
  assert.equal(await page.locator('#view-graph svg .node').count(), cliPlan.resources.length);
  const edges = cliPlan.resources.reduce((n, r) => n + (r.depends_on || []).length, 0);
  assert.equal(await page.locator('#view-graph svg .edge').count(), edges);
});

test('changing a parameter re-plans', async () => {
  await replan(() => page.fill('[data-param="cluster_id"]', 'det-from-browser'), 'ok');
  const changed = await browserPlanJson();
  assert.notEqual(changed, cliJson);
  assert.ok(changed.includes('det-from-browser'));
  assert.ok((await page.locator('#view-plan').textContent()).includes('det-from-browser'));

  await replan(() => page.fill('[data-param="cluster_id"]', ''), 'ok');
  assertSameBytes(await browserPlanJson(), cliJson, 'back to the default');
});

test('a secret typed in the form shows nowhere', async () => {
  await replan(() => page.fill('[data-param="db_password"]', SECRET), 'ok');
  const shown = await page.evaluate(() => [
    document.documentElement.outerHTML,
    document.body.innerText,
    document.getElementById('views').textContent,
    JSON.stringify(window.__detscript.lastResult),
  ].join('\n'));
  assert.ok(!shown.includes(SECRET), 'the secret appears in the page');
  for (const view of ['master-yaml', 'user-data']) {
    await page.click(`#tabs [data-view="${view}"]`);
    assert.ok(!(await page.locator(`#view-${view}`).innerText()).includes(SECRET));
  }
  await page.click('#tabs [data-view="plan"]');
  await replan(() => page.fill('[data-param="db_password"]', ''), 'ok');
  assertSameBytes(await browserPlanJson(), cliJson, 'plan JSON');
});

test('a syntax error shows a diagnostic on its line and keeps the last good plan (stale); fixing it brings the plan back', async () => {
  const original = await page.locator('#source').inputValue();
  const count = await renderedResources();
  // Type a broken statement as a new line 21, as a person would.
  const brokenLine = 21;
  await replan(async () => {
    await page.evaluate((line) => {
      const t = document.getElementById('source');
      const lines = t.value.split('\n');
      const end = lines.slice(0, line - 1).join('\n').length;
      t.focus();
      t.setSelectionRange(end, end);
    }, brokenLine);
    await page.keyboard.type('\nlet broken = ;');
  }, 'stale');

  const diag = page.locator('#view-diagnostics .diagnostic.error').first();
  assert.equal(await diag.getAttribute('data-line'), String(brokenLine));
  assert.match(await diag.textContent(), new RegExp(`deploy\\.rhai:${brokenLine}:`));
  assert.ok(await page.locator('#stale-banner').isVisible(), 'stale banner shown');
  assert.equal(await renderedResources(), count, 'the last good plan stays');
  assert.match(await page.locator('#status').textContent(), new RegExp(`line ${brokenLine}`));
  assert.ok(await page.locator(`#gutter > div:nth-child(${brokenLine}).error`).count(), 'gutter marks the line');
  await page.screenshot({ path: join(ARTIFACTS, 'preview-error.png') });

  // Clicking the diagnostic puts the cursor on its line.
  await page.evaluate(() => { const t = document.getElementById('source'); t.setSelectionRange(0, 0); t.blur(); });
  await page.click('#tabs [data-view="diagnostics"]');
  await diag.click();
  assert.equal(await lineOfCursor(), brokenLine);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'source');

  await replan(() => page.fill('#source', original), 'ok');
  assert.ok(await page.locator('#stale-banner').isHidden());
  assertSameBytes(await browserPlanJson(), cliJson, 'plan JSON');
  assert.equal(await renderedResources(), count);
});

test('the page stops runaway and memory-hungry scripts with a clear error, then plans again', async () => {
  const original = await page.locator('#source').inputValue();
  const cases = [
    ['deployment("d");\nloop { }\n', /stopped/],
    ['deployment("d");\nlet m = #{};\nfor i in 0..1000 { let s = `${i}`; s.pad(524288, \'y\'); m[`k${i}`] = s; }\n', /512 MiB/],
  ];
  for (const [script, expected] of cases) {
    await replan(() => page.fill('#source', script));
    const diag = page.locator('#view-diagnostics .diagnostic.error').first();
    assert.match(await diag.textContent(), expected);
  }
  await replan(() => page.fill('#source', original), 'ok');
  assertSameBytes(await browserPlanJson(), cliJson, 'plan JSON after the limits');
});

test('lint findings show in Diagnostics with the ids, lines and fixes of `detscript lint`', async () => {
  const lint = JSON.parse(cli('lint', SCRIPT, '--param', 'keypair=test-key', '--format', 'json'));
  const expected = lint.filter((d) => d.code).map((d) => `${d.code}:${d.line}`).sort();
  assert.ok(expected.length >= 3, `the CLI reports the guide's findings: ${expected}`);
  await page.click('#tabs [data-view="diagnostics"]');
  const shown = await page.locator('#view-diagnostics .diagnostic').evaluateAll((els) =>
    els.map((e) => ({ code: e.querySelector('.code')?.textContent, line: e.getAttribute('data-line'), text: e.textContent })));
  const got = shown.filter((d) => d.code).map((d) => `${d.code}:${d.line}`).sort();
  assert.deepEqual(got, expected);
  const ssh = shown.find((d) => d.code === 'DS003');
  assert.match(ssh.text, /fix: limit SSH/);
  await page.click('#tabs [data-view="plan"]');
});

test('typing re-plans once it pauses (debounced), not on every key', async () => {
  const seq = () => page.evaluate(() => Number(document.body.dataset.seq));
  const before = await seq();
  const typed = 'det-typed-slowly';
  await replan(() => page.locator('[data-param="cluster_id"]').pressSequentially(typed, { delay: 30 }), 'ok');
  const plans = (await seq()) - before;
  assert.ok(plans >= 1 && plans <= 3, `${typed.length} keys gave ${plans} plans`);
  assert.ok((await browserPlanJson()).includes(typed));
  await replan(() => page.fill('[data-param="cluster_id"]', ''), 'ok');
  assertSameBytes(await browserPlanJson(), cliJson, 'back to the default');
});

test('every script in the picker plans byte-identically to the CLI (imports included)', async () => {
  const names = await page.locator('#script-picker option').evaluateAll((os) => os.map((o) => o.value));
  const others = names.filter((n) => n !== 'deploy.rhai');
  for (const name of [...others, 'deploy.rhai']) {
    if (name === 'deploy.rhai' && !others.length) break;
    await replan(() => page.selectOption('#script-picker', name), 'ok');
    assert.equal(await page.locator('#source').inputValue(), readFileSync(join(ROOT, 'scripts', name), 'utf8'));
    const declared = await page.evaluate(() => window.__detscript.lastResult.params.map((p) => p.name));
    const args = ['plan', `scripts/${name}`, '--format', 'json'];
    if (declared.includes('keypair')) {
      // Typed once for deploy.rhai; the form keeps it across scripts.
      assert.equal(await page.inputValue('[data-param="keypair"]'), 'test-key');
      args.push('--param', 'keypair=test-key');
    }
    const expected = cli(...args);
    assertSameBytes(await browserPlanJson(), expected, `${name}: browser vs CLI`);
    assert.equal(await renderedResources(), JSON.parse(expected).resources.length, name);
  }
  assertSameBytes(await browserPlanJson(), cliJson, 'deploy.rhai again');
});

test('master.yaml and user-data views render, with copy and download', async () => {
  for (const view of ['master-yaml', 'user-data']) {
    await page.click(`#tabs [data-view="${view}"]`);
    const text = await page.locator(`#view-${view} pre`).textContent();
    assert.ok(text.length > 50, `${view} has content`);
    assert.equal(await page.locator(`#view-${view} button`, { hasText: 'Copy' }).count(), 1);
    assert.equal(await page.locator(`#view-${view} button`, { hasText: 'Download' }).count(), 1);
  }
  await page.click('#tabs [data-view="master-yaml"]');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#view-master-yaml button:has-text("Download")'),
  ]);
  assert.equal(download.suggestedFilename(), 'master.yaml');
});

test('screenshots', async () => {
  await page.evaluate(() => { const t = document.getElementById('source'); t.setSelectionRange(0, 0); t.scrollTop = 0; t.dispatchEvent(new Event('scroll')); t.blur(); });
  await page.click('#tabs [data-view="graph"]');
  await page.screenshot({ path: join(ARTIFACTS, 'preview-graph.png') });
  await page.click('#tabs [data-view="plan"]');
  await page.locator('#view-plan').evaluate((v) => { v.scrollTop = 0; });
  await page.screenshot({ path: join(ARTIFACTS, 'preview.png') });
  assert.ok(statSync(join(ARTIFACTS, 'preview.png')).size > 10_000);
});

test('size and speed (printed; numbers go to the README)', async () => {
  const raw = statSync(WASM).size;
  const gz = gzipSync(readFileSync(WASM), { level: 9 }).length;
  const firstPlan = [];
  for (let i = 0; i < LOAD_RUNS; i++) {
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.firstPlanMs);
    firstPlan.push(Number(await page.evaluate(() => document.body.dataset.firstPlanMs)));
  }
  const sorted = [...firstPlan].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const engineMs = await page.evaluate(() => window.__detscript.metrics.wasmInitMs);
  const planMs = await page.evaluate(() => window.__detscript.metrics.lastPlanMs);
  Object.assign(metrics, {
    wasm_raw_bytes: raw, wasm_gzip_bytes: gz, load_to_first_plan_ms: sorted.map((n) => Math.round(n)),
    load_to_first_plan_median_ms: Math.round(median), engine_load_ms: Math.round(engineMs), one_plan_ms: Math.round(planMs * 10) / 10,
  });
  console.log(`# metric wasm size: ${raw} bytes raw, ${gz} bytes gzip -9 (${(gz / 1024).toFixed(0)} KiB)`);
  console.log(`# metric load to first rendered plan, first load in a fresh browser: ${metrics.cold_load_to_first_plan_ms} ms`);
  console.log(`# metric load to first rendered plan: median ${median.toFixed(0)} ms of ${LOAD_RUNS} loads (${sorted.map((n) => n.toFixed(0)).join(', ')})`);
  console.log(`# metric engine load ${engineMs.toFixed(0)} ms, one re-plan of deploy.rhai (params + plan) ${planMs.toFixed(1)} ms`);
  assert.ok(gz < 1024 * 1024, 'goal: under 1 MB gzipped');
  assert.deepEqual(problems, []);
});

test('no request left for anything but the page\'s own files', async () => {
  const foreign = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('blob:' + origin + '/'));
  assert.deepEqual(foreign, [], 'requests to other origins');
  for (const u of requests.filter((r) => r.startsWith(origin + '/'))) {
    const path = new URL(u).pathname;
    const file = join(WWW, path.endsWith('/') ? path + 'index.html' : path);
    assert.ok(existsSync(file), `${u} is one of the page's files`);
  }
  assert.deepEqual(problems, [], 'no page errors');
});
