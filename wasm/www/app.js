// The preview page: an editor, a parameter form and views of the plan that the
// engine (compiled to WebAssembly) computes as the person types. Everything
// happens in this page; it requests nothing but its own files.

import { scripts } from './pkg/scripts.js';
import * as firstInstance from './pkg/detscript_wasm.js';
import { graphSvg } from './graph.js';
import { decodeShare, encodeShare, loadStored, store } from './share.js';

const DEBOUNCE_MS = 150;
const DEFAULT_SCRIPT = 'deploy.rhai';
const WASM_URL = new URL('./pkg/detscript_wasm_bg.wasm', import.meta.url);

// Scripts are named as the CLI names them when run from the repository root
// (`detscript plan scripts/deploy.rhai`): the name is part of the plan JSON.
const pathOf = (name) => `scripts/${name}`;
const isCurrent = (file) => file === pathOf(state.file) || file === state.file;

const $ = (id) => document.getElementById(id);
const ui = {
  picker: $('script-picker'), reset: $('reset-script'), share: $('share-link'), status: $('status'),
  editor: $('editor'), fields: $('param-fields'), paramsNote: $('params-note'),
  tabs: $('tabs'), stale: $('stale-banner'), showDiagnostics: $('show-diagnostics'),
  views: {
    plan: $('view-plan'), graph: $('view-graph'), 'master-yaml': $('view-master-yaml'),
    'user-data': $('view-user-data'), cloudformation: $('view-cloudformation'), json: $('view-json'),
    diagnostics: $('view-diagnostics'),
  },
  badgePlan: $('badge-plan'), badgeDiag: $('badge-diag'), metrics: $('metrics'),
};

// State the tests (and curious people) can read: window.__detscript.
const state = {
  file: DEFAULT_SCRIPT,
  drafts: {},            // script name -> edited source
  paramSpecKey: '',      // JSON of the last param specs the form was built from
  values: {},            // typed non-secret parameter values, kept across form rebuilds and scripts
  lastResult: null,      // last result from the engine, good or not
  lastGood: null,        // last result with ok: true (what the views show)
  seq: 0,                // number of plans computed
  metrics: { wasmInitMs: null, firstPlanMs: null, lastPlanMs: null },
  moduleGen: 0,
  editor: null,          // the CodeMirror editor (wasm/editor/editor.js), once it has loaded
  text: '',              // the script while the editor is still loading
  cfnStale: true,        // the CloudFormation view shows an older plan than lastGood
};
window.__detscript = state;

let engine = null;        // the wasm-bindgen module
const modulesJson = JSON.stringify(scripts);

// ---------------------------------------------------------------- engine

async function loadEngine() {
  // A fresh module instance after a trap: wasm built with panic=abort cannot be
  // reused once it has trapped, so import the glue again (same files, same origin) and
  // instantiate the compiled module again.
  const mod = state.moduleGen ? await import(`./pkg/detscript_wasm.js?instance=${state.moduleGen}`) : firstInstance;
  const boot = window.__detscriptBoot;
  if (!state.wasmModule && boot) {
    // Compiled while it downloaded, instantiated and set up by the inline script of
    // index.html, which ran first.
    const { module, compiledAt, instantiatedAt, setUpAt } = await boot.ready;
    Object.assign(state.metrics, {
      engineStartAt: boot.startedAt, compileMs: compiledAt - boot.startedAt,
      instantiateMs: instantiatedAt - compiledAt, setUpMs: setUpAt - instantiatedAt,
    });
    state.wasmModule = module;
  } else if (!state.wasmModule) {
    const t0 = performance.now();
    state.wasmModule = await WebAssembly.compileStreaming(fetch(WASM_URL));
    Object.assign(state.metrics, { engineStartAt: t0, compileMs: performance.now() - t0 });
  }
  const t1 = performance.now();
  await mod.default({ module_or_path: state.wasmModule }); // at once when index.html did it
  if (state.metrics.instantiateMs === undefined) state.metrics.instantiateMs = performance.now() - t1;
  state.moduleGen += 1;
  engine = mod;
}

function currentParams() {
  const values = {};
  for (const input of ui.fields.querySelectorAll('[data-param]')) {
    if (input.value !== '') values[input.dataset.param] = input.value;
  }
  return values;
}

// What the last good plan was computed from (not in `state`, which the page exposes: the
// parameters may hold a secret typed in the form).
let lastGoodInput = null;

async function runPlan() {
  if (!engine) return;
  const started = performance.now();
  let result;
  try {
    // The form first: only parameters the script (as it is now) declares are sent, so
    // removing a declaration does not leave an "unknown parameter" behind.
    // (Before the form exists no values are sent, and the plan's own list builds it.)
    if (state.paramSpecKey) {
      const declared = JSON.parse(engine.params(pathOf(state.file), source(), modulesJson));
      if (declared.ok || declared.params.length) buildForm(declared.params);
    }
    const input = [pathOf(state.file), source(), JSON.stringify(currentParams()), modulesJson];
    result = JSON.parse(engine.plan(...input));
    if (result.ok) lastGoodInput = input;
    if (!state.paramSpecKey && result.params && result.params.length) buildForm(result.params);
  } catch (err) {
    result = {
      ok: false, plan_json: null, params: [],
      diagnostics: [{ severity: 'error', code: 'internal', message: `the engine stopped: ${err}`, file: pathOf(state.file), line: 0, column: 0, notes: ['this is a bug in detscript; the engine was restarted: edit the script or a parameter to plan again'] }],
    };
    engine = null;
    loadEngine().catch(() => {});
  }
  // The engine stops a script that grows its memory past the sandbox limit; wasm memory
  // never shrinks, so once it is large the next plan runs in a fresh instance (this
  // one's plan files are taken first: the new instance has no plan yet).
  if (engine && result.restart) {
    if (result.ok) planFiles(result);
    engine = null;
    loadEngine().catch(() => {});
  }
  const planMs = performance.now() - started;
  if (state.metrics.firstPlanMs === null) state.metrics.firstComputeMs = planMs;
  state.seq += 1;
  state.lastResult = result;
  if (result.ok) {
    result.plan = JSON.parse(result.plan_json);
    state.lastGood = result;
    state.cfnStale = true;
  }
  render(result, planMs);
  remember();
}

// ---------------------------------------------------------------- editor

// The first plan does not wait for the editor (the largest script of the page): until it
// has loaded, the script is state.text.
const source = () => (state.editor ? state.editor.getText() : state.text);
let settingText = false;

function setSource(text) {
  state.text = text;
  if (!state.editor) return;
  settingText = true;
  try {
    state.editor.setText(text);
  } finally {
    settingText = false;
  }
}

function markGutter(diagnostics) {
  state.editor?.setDiagnostics((diagnostics || []).filter((d) => d.line && isCurrent(d.file)));
}

/** Puts the editor cursor at `line` (1-based), `column`. */
function gotoLine(line, column = 1) {
  state.editor?.gotoLine(line, column);
}

async function loadEditor() {
  const { createEditor } = await import('./pkg/editor.js');
  state.editor = createEditor({
    host: ui.editor, doc: source(),
    onChange: edited, onRun: () => { clearTimeout(timer); runPlan(); },
  });
  markGutter(state.lastResult?.diagnostics);
  state.metrics.editorReadyAt = performance.now();
  document.body.dataset.editor = 'ready';
}

let timer = null;
function schedulePlan() {
  clearTimeout(timer);
  timer = setTimeout(runPlan, DEBOUNCE_MS);
}

function edited(text) {
  if (settingText) return;
  if (text === scripts[state.file]) delete state.drafts[state.file];
  else state.drafts[state.file] = text;
  schedulePlan();
}

// ---------------------------------------------------------------- keeping the work

/** Edits and non-secret values to local storage; the open script to the URL fragment. */
let shareSeq = 0;
async function remember() {
  store({ drafts: state.drafts, file: state.file, values: state.values });
  const seq = ++shareSeq;
  const fragment = await encodeShare({ file: state.file, source: source(), bundled: scripts[state.file], values: shareableValues() });
  if (seq !== shareSeq) return; // a newer edit is being encoded
  if (location.hash.slice(1) !== fragment) history.replaceState(null, '', '#' + fragment);
  state.shareUrl = location.href;
  document.body.dataset.shared = String(state.seq);
}

function shareableValues() {
  const values = {};
  for (const input of ui.fields.querySelectorAll('[data-param]')) {
    if (input.type !== 'password' && input.value !== '') values[input.dataset.param] = input.value;
  }
  return values;
}

ui.share.addEventListener('click', async () => {
  clearTimeout(timer);
  await runPlan();
  await remember();
  copyText(location.href, ui.share);
});

// ---------------------------------------------------------------- scripts

function topLevelScripts() {
  return Object.keys(scripts).filter((name) => !name.includes('/')).sort((a, b) =>
    a === DEFAULT_SCRIPT ? -1 : b === DEFAULT_SCRIPT ? 1 : a.localeCompare(b));
}

function openScript(name) {
  state.file = name;
  ui.picker.value = name;
  setSource(state.drafts[name] ?? scripts[name] ?? '');
  clearTimeout(timer);
  runPlan();
}

/** What a shared link asks for: its script (and values) replace what was kept. */
async function applyShare() {
  const shared = await decodeShare(location.hash);
  if (!shared) return;
  if (!Object.hasOwn(scripts, shared.file) || shared.file.includes('/')) {
    throw new Error(`the link names ${shared.file}, which this page does not have`);
  }
  state.file = shared.file;
  if (shared.source !== undefined && shared.source !== scripts[shared.file]) state.drafts[shared.file] = shared.source;
  else delete state.drafts[shared.file];
  if (shared.values) state.values = { ...state.values, ...shared.values };
}

ui.picker.addEventListener('change', () => openScript(ui.picker.value));
ui.reset.addEventListener('click', () => {
  delete state.drafts[state.file];
  openScript(state.file);
});

// ---------------------------------------------------------------- params form

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

function buildForm(specs) {
  const key = JSON.stringify(specs);
  if (key === state.paramSpecKey) return;
  state.paramSpecKey = key;
  const previous = { ...state.values, ...currentParams() };
  const rows = specs.map((spec) => {
    const id = `param-${spec.name}`;
    const kind = spec.kind || 'string';
    const keep = previous[spec.name] ?? '';
    const changed = (e) => {
      // Secrets stay in their input only; other values are remembered for rebuilds.
      if (!spec.secret) state.values[spec.name] = e.target.value;
      schedulePlan();
    };
    const common = { id, name: spec.name, dataset: { param: spec.name, kind }, oninput: changed, onchange: changed };
    let input;
    if (spec.choices && spec.choices.length) {
      input = el('select', common,
        el('option', { value: '' }, spec.default != null ? `default (${show(spec.default)})` : '(choose)'),
        spec.choices.map((c) => el('option', { value: show(c) }, show(c))));
    } else if (kind === 'bool') {
      input = el('select', common,
        el('option', { value: '' }, spec.default != null ? `default (${show(spec.default)})` : '(unset)'),
        el('option', { value: 'true' }, 'true'), el('option', { value: 'false' }, 'false'));
    } else if (spec.secret) {
      // Secrets stay in this input: they reach the engine in memory only, and every
      // output the page shows is redacted.
      input = el('input', { ...common, type: 'password', autocomplete: 'new-password', placeholder: spec.required ? 'required (secret)' : '(secret)' });
    } else {
      const placeholder = spec.default != null ? show(spec.default) : (spec.required ? 'required' : '');
      input = el('input', { ...common, type: 'text', placeholder, inputmode: kind === 'int' ? 'numeric' : undefined, spellcheck: 'false' });
    }
    input.value = keep;
    return el('div', { class: 'param' + (spec.required ? ' required' : '') },
      el('label', { for: id },
        el('span', { class: 'param-name' }, spec.name),
        el('span', { class: 'param-kind' }, kind),
        spec.secret ? el('span', { class: 'tag secret' }, 'secret') : null,
        spec.required ? el('span', { class: 'tag required' }, 'required') : null),
      input,
      spec.doc ? el('div', { class: 'param-doc' }, spec.doc) : null);
  });
  ui.fields.replaceChildren(...rows);
  ui.paramsNote.textContent = specs.length ? 'empty = default; a required one left empty is an unknown value in the preview' : 'this script declares none';
}

// ---------------------------------------------------------------- rendering

/** Flags the form fields that an error names ("parameter 'x' ..."). */
function markParams(diagnostics) {
  for (const input of ui.fields.querySelectorAll('[data-param]')) {
    const d = diagnostics.find((x) => x.severity === 'error' && x.message.startsWith(`parameter '${input.dataset.param}'`));
    input.classList.toggle('invalid', Boolean(d));
    input.setCustomValidity(d ? d.message : '');
    input.title = d ? d.message : '';
  }
}

/** The plan's text, DOT, master.yaml and user-data, computed when first needed. */
function planFiles(result) {
  if (!result.files && engine) result.files = JSON.parse(engine.files()) || {};
  return result.files || {};
}

function render(result, planMs) {
  const diagnostics = result.diagnostics || [];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const warnings = diagnostics.filter((d) => d.severity !== 'error');

  markGutter(diagnostics);
  markParams(diagnostics);
  renderDiagnostics(diagnostics, result.printed || []);
  ui.badgeDiag.textContent = diagnostics.length ? String(diagnostics.length) : '';
  ui.badgeDiag.className = 'badge' + (errors.length ? ' error' : warnings.length ? ' warning' : '');

  if (result.ok) {
    renderPlan(result);
    document.body.dataset.state = 'ok';
    ui.stale.hidden = true;
    ui.status.className = 'status ok';
    ui.status.textContent = `✓ ${result.plan.resources.length} resources` +
      (warnings.length ? ` · ${warnings.length} warning${warnings.length > 1 ? 's' : ''}` : '') +
      ` · planned in ${planMs.toFixed(0)} ms`;
  } else {
    document.body.dataset.state = state.lastGood ? 'stale' : 'error';
    ui.stale.hidden = !state.lastGood;
    ui.status.className = 'status error';
    const first = errors[0] || diagnostics[0];
    ui.status.textContent = `✗ ${errors.length} error${errors.length === 1 ? '' : 's'}` +
      (first ? ` — ${first.line ? `line ${first.line}: ` : ''}${first.message}` : '');
    if (!state.lastGood) ui.views.plan.replaceChildren(el('p', { class: 'empty' }, 'No plan yet: fix the errors listed under Diagnostics.'));
  }
  document.body.dataset.seq = String(state.seq);

  const now = performance.now();
  state.metrics.lastPlanMs = planMs;
  if (result.ok && state.metrics.firstPlanMs === null) {
    state.metrics.firstPlanMs = now; // since navigation start
    state.metrics.firstRenderMs = now - state.metrics.engineReadyAt - state.metrics.firstComputeMs;
    document.body.dataset.firstPlanMs = now.toFixed(1);
  }
  ui.metrics.textContent = [
    state.metrics.wasmInitMs != null ? `engine loaded in ${state.metrics.wasmInitMs.toFixed(0)} ms` : null,
    state.metrics.firstPlanMs != null ? `first plan ${state.metrics.firstPlanMs.toFixed(0)} ms after page load` : null,
    `last plan ${planMs.toFixed(1)} ms`,
    engine && engine.version ? `detscript ${engine.version()}` : null,
  ].filter(Boolean).join(' · ');
}

function renderDiagnostics(diagnostics, printed) {
  const view = ui.views.diagnostics;
  const output = printed.length
    ? el('section', { class: 'printed' }, el('h3', {}, 'script output (print / debug)'), el('pre', { class: 'file' }, printed.join('\n')))
    : '';
  if (!diagnostics.length) {
    view.replaceChildren(el('p', { class: 'empty' }, 'No errors, no warnings.'), output);
    return;
  }
  const sorted = [...diagnostics].sort((a, b) =>
    (a.severity === 'error' ? 0 : 1) - (b.severity === 'error' ? 0 : 1) || (a.line || 0) - (b.line || 0));
  view.replaceChildren(el('ul', { class: 'diagnostics' }, sorted.map((d) => {
    const here = isCurrent(d.file) && d.line > 0;
    const where = d.line ? `${d.file}:${d.line}:${d.column || 1}` : d.file;
    return el('li', {
      class: `diagnostic ${d.severity}` + (here ? ' clickable' : ''),
      tabindex: here ? '0' : undefined,
      dataset: { line: String(d.line || 0) },
      title: here ? 'Go to this line' : undefined,
      onclick: here ? () => gotoLine(d.line, d.column) : undefined,
      onkeydown: here ? (e) => { if (e.key === 'Enter') gotoLine(d.line, d.column); } : undefined,
    },
    el('span', { class: 'sev' }, d.severity),
    el('span', { class: 'where' }, where),
    d.code ? el('span', { class: 'code' }, d.code) : null,
    el('div', { class: 'message' }, d.message),
    (d.notes || []).map((n) => el('div', { class: 'note' }, n)));
  })), output);
}

const REF = /\$\{([^}]+)\}/g;

/** A value as DOM: strings with `${kind.name.attr}` show where each unknown comes from. */
function renderValue(value, ids) {
  if (value === null) return el('span', { class: 'v-null' }, 'null');
  if (Array.isArray(value)) {
    if (!value.length) return el('span', { class: 'v-empty' }, '[]');
    if (value.every((v) => v === null || typeof v !== 'object')) {
      return el('span', { class: 'v-list' }, value.map((v, i) => [i ? ', ' : '', renderValue(v, ids)]));
    }
    return el('ol', { class: 'v-array' }, value.map((v) => el('li', {}, renderValue(v, ids))));
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (!keys.length) return el('span', { class: 'v-empty' }, '{}');
    return el('dl', { class: 'props' }, keys.map((k) => [el('dt', {}, k), el('dd', {}, renderValue(value[k], ids))]));
  }
  if (typeof value !== 'string') return el('span', { class: `v-${typeof value}` }, String(value));
  if (value.startsWith('(sensitive)')) return el('span', { class: 'v-sensitive', title: 'secret: never shown' }, value);
  const lines = value.split('\n').length;
  if (lines > 3) {
    // A file-sized value (user data, a policy): folded, first line as its summary.
    return el('details', { class: 'v-long' },
      el('summary', {}, `${value.split('\n', 1)[0]} … (${lines} lines)`),
      el('pre', { class: 'v-string' }, templated(value, ids)));
  }
  return templated(value, ids);
}

function templated(value, ids) {
  const parts = [];
  let last = 0;
  for (const m of value.matchAll(REF)) {
    if (m.index > last) parts.push(value.slice(last, m.index));
    parts.push(unknownRef(m[0], m[1], ids));
    last = m.index + m[0].length;
  }
  if (!parts.length) return el('span', { class: 'v-string' }, value);
  if (last < value.length) parts.push(value.slice(last));
  return el('span', { class: 'v-string v-template' }, parts);
}

function unknownRef(text, ref, ids) {
  const segments = ref.split('.');
  const owner = segments.slice(0, 2).join('.');
  const attr = segments.slice(2).join('.');
  const known = ids.has(owner);
  const param = segments[0] === 'param' ? segments.slice(1).join('.') : null;
  const ssm = segments[0] === 'ssm' ? segments.slice(1).join('.') : null;
  const title = known
    ? `known after apply: ${attr || 'value'} of ${owner}`
    : param ? `parameter ${param} has no value in this preview`
    : ssm ? `known after apply: SSM parameter ${ssm}` : `unknown in this preview: ${ref}`;
  const from = known ? `← ${owner}` : param ? `← parameter ${param} (no value)`
    : ssm ? '← SSM parameter, read at apply' : '← not known until apply';
  return el('span', {
    class: 'unknown' + (known || param ? ' link' : ''), title,
    onclick: known ? () => focusResource(owner) : param ? () => focusParam(param) : undefined,
  }, text, el('span', { class: 'from' }, from));
}

function focusParam(name) {
  const input = ui.fields.querySelector(`[data-param="${CSS.escape(name)}"]`);
  if (input) {
    input.scrollIntoView({ block: 'center' });
    input.focus();
  }
}

function focusResource(id) {
  selectView('plan');
  const card = ui.views.plan.querySelector(`[data-id="${CSS.escape(id)}"]`);
  if (card) {
    card.scrollIntoView({ block: 'center' });
    card.classList.add('flash');
    setTimeout(() => card.classList.remove('flash'), 900);
  }
}

function renderPlan(result) {
  const plan = result.plan;
  const ids = new Set(plan.resources.map((r) => r.id));
  const groups = new Map();
  for (const r of plan.resources) {
    if (!groups.has(r.kind)) groups.set(r.kind, []);
    groups.get(r.kind).push(r);
  }
  const summary = el('div', { class: 'summary' },
    el('span', {}, `deployment `, el('b', {}, show(plan.deployment?.name ?? plan.deployment ?? '?'))),
    el('span', { id: 'resource-count', dataset: { count: String(plan.resources.length) } }, `${plan.resources.length} resources`),
    el('span', {}, `${groups.size} kinds`),
    plan.sha256 ? el('span', { class: 'hash', title: 'sha256 of the canonical plan JSON' }, `sha256 ${String(plan.sha256).slice(0, 12)}…`) : null,
    el('button', { type: 'button', class: 'small', title: 'The plan as `detscript plan` prints it', onclick: (e) => copyText(planFiles(result).text ?? '', e.currentTarget) }, 'Copy as text'));
  const sections = [...groups].map(([kind, list]) => el('section', { class: 'kind', dataset: { kind } },
    el('h3', {}, kind, el('span', { class: 'badge' }, String(list.length))),
    list.map((r) => el('article', { class: 'resource', dataset: { id: r.id } },
      el('header', {},
        el('span', { class: 'rid' }, r.id),
        r.name ? el('span', { class: 'rname', title: 'physical name' }, show(r.name)) : null,
        r.source && r.source.line ? el('a', {
          class: 'src', href: '#', title: 'Go to the line that declared it',
          onclick: (e) => { e.preventDefault(); if (isCurrent(r.source.file)) gotoLine(r.source.line, r.source.column); },
        }, `${r.source.file}:${r.source.line}`) : null),
      renderValue(r.properties ?? {}, ids),
      r.depends_on && r.depends_on.length ? el('div', { class: 'deps' }, 'depends on ',
        r.depends_on.map((d) => el('button', { type: 'button', class: 'chip', onclick: () => focusResource(d) }, d))) : null,
      r.tags && Object.keys(r.tags).length ? el('details', { class: 'tags' }, el('summary', {}, `tags (${Object.keys(r.tags).length})`), renderValue(r.tags, ids)) : null))));
  const files = plan.files && Object.keys(plan.files).length
    ? el('section', { class: 'kind files' }, el('h3', {}, 'files'), renderValue(plan.files, ids)) : null;
  const outputs = plan.outputs && Object.keys(plan.outputs).length
    ? el('section', { class: 'kind outputs' }, el('h3', {}, 'outputs'), renderValue(plan.outputs, ids)) : null;
  ui.views.plan.replaceChildren(summary, ...sections, outputs || '', files || '');
  ui.badgePlan.textContent = String(plan.resources.length);

  // The other views right after the first paint (or when their tab is opened first).
  renderLater(() => {
    const files = planFiles(result);
    renderGraph(plan, files.dot);
    if (!ui.views.cloudformation.hidden) renderCloudFormation();
    renderFile('master-yaml', 'master.yaml', files.master_yaml, 'text/yaml', 'This plan has no master_instance, so there is no master.yaml.');
    renderFile('user-data', 'user-data.sh', files.user_data, 'text/x-shellscript', 'This plan has no master_instance, so there is no user-data.');
    renderFile('json', 'plan.json', result.plan_json, 'application/json', '');
  });
}

let pendingViews = null;
function renderLater(fn) {
  pendingViews = fn;
  const flush = () => flushViews();
  if (window.requestIdleCallback) requestIdleCallback(flush, { timeout: 100 });
  else setTimeout(flush, 0);
}
function flushViews() {
  const fn = pendingViews;
  pendingViews = null;
  if (fn) fn();
}

function download(filename, text, mime) {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el('textarea', {}, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  const label = button.textContent;
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = label; }, 1200);
}

function renderFile(view, filename, text, mime, missing) {
  const box = ui.views[view];
  if (text == null) {
    box.replaceChildren(el('p', { class: 'empty' }, missing));
    return;
  }
  const pre = el('pre', { class: 'file', dataset: { file: filename } }, text);
  const copy = el('button', { type: 'button', onclick: () => copyText(text, copy) }, 'Copy');
  const save = el('button', { type: 'button', onclick: () => download(filename, text, mime) }, 'Download');
  box.replaceChildren(el('div', { class: 'toolbar' }, el('span', { class: 'filename' }, filename), copy, save), pre);
}

// ---------------------------------------------------------------- graph

function renderGraph(plan, dot) {
  const toolbar = el('div', { class: 'toolbar' }, el('span', { class: 'filename' }, 'dependency graph'),
    dot ? el('button', { type: 'button', title: 'Graphviz source, as `detscript graph` writes it', onclick: () => download('plan.dot', dot, 'text/vnd.graphviz') }, 'Download DOT') : null);
  const legend = el('p', { class: 'legend' }, `${plan.resources.length} resources, left to right in creation order; `
    + 'an arrow points from a resource to one it depends on, as in `detscript graph`. Click a node to see it in Plan.');
  ui.views.graph.replaceChildren(toolbar, legend, graphSvg(plan, { onSelect: focusResource }));
}

// ---------------------------------------------------------------- CloudFormation

// The CloudFormation exporter is a module of its own (pkg/cfn/: the engine built with it),
// loaded when the tab first opens, so the page's first engine is smaller (README
// "Measured"). A fresh instance after a trap or when its memory grew, as for the engine.
let cfnEngine = null;
let cfnGen = 0;
async function loadCfnEngine() {
  if (!cfnEngine) {
    cfnEngine = (async () => {
      const mod = await import(`./pkg/cfn/detscript_wasm.js${cfnGen ? `?instance=${cfnGen}` : ''}`);
      cfnGen += 1;
      await mod.default();
      return mod;
    })();
  }
  return cfnEngine;
}

/** The last good plan exported as `detscript export` does (computed when the tab shows). */
async function renderCloudFormation() {
  if (!state.cfnStale || !engine || !state.lastGood || !lastGoodInput) return;
  state.cfnStale = false;
  const input = lastGoodInput;
  let out;
  try {
    const cfn = await loadCfnEngine();
    // The exporter's engine plans the page's last good plan itself (the Plan tab's inputs),
    // then exports it: the tab always shows what the Plan tab does.
    const planned = JSON.parse(cfn.plan(...input));
    out = JSON.parse(cfn.cloudformation());
    if (planned.restart) cfnEngine = null;
  } catch (err) {
    cfnEngine = null;
    state.cfnStale = true;
    ui.views.cloudformation.replaceChildren(el('p', { class: 'empty' }, `The CloudFormation exporter stopped: ${err}`));
    return;
  }
  // A newer good plan while the exporter loaded: export that one.
  if (input !== lastGoodInput) {
    state.cfnStale = true;
    if (!ui.views.cloudformation.hidden) renderCloudFormation();
    return;
  }
  if (out.ok) {
    renderFile('cloudformation', 'template.yaml', out.yaml, 'text/yaml', '');
    return;
  }
  ui.views.cloudformation.replaceChildren(
    el('p', { class: 'empty' }, 'This plan cannot be exported to CloudFormation:'),
    el('ul', { class: 'diagnostics' }, out.diagnostics.map((d) => el('li', { class: `diagnostic ${d.severity}` },
      el('span', { class: 'sev' }, d.severity), el('div', { class: 'message' }, d.message)))));
}

// ---------------------------------------------------------------- tabs

function selectView(name) {
  flushViews();
  for (const btn of ui.tabs.querySelectorAll('button')) btn.setAttribute('aria-selected', String(btn.dataset.view === name));
  for (const [key, view] of Object.entries(ui.views)) view.hidden = key !== name;
  if (name === 'cloudformation') renderCloudFormation();
}
ui.tabs.addEventListener('click', (e) => {
  const btn = e.target.closest('button[data-view]');
  if (btn) selectView(btn.dataset.view);
});
ui.showDiagnostics.addEventListener('click', () => selectView('diagnostics'));
ui.status.addEventListener('click', () => {
  const d = state.lastResult?.diagnostics?.find((x) => x.severity === 'error');
  if (d) {
    selectView('diagnostics');
    if (d.line && isCurrent(d.file)) gotoLine(d.line, d.column);
  }
});

// ---------------------------------------------------------------- start

async function main() {
  const names = topLevelScripts();
  ui.picker.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
  if (!names.length) {
    ui.status.textContent = 'no scripts bundled';
    return;
  }
  // The engine compiles (off the main thread) while the editor loads.
  const engineLoad = loadEngine();
  const editorLoad = loadEditor();
  const kept = loadStored();
  state.drafts = Object.fromEntries(Object.entries(kept.drafts).filter(([n, t]) => Object.hasOwn(scripts, n) && typeof t === 'string'));
  state.values = kept.values;
  state.file = names.includes(kept.file) ? kept.file : names.includes(DEFAULT_SCRIPT) ? DEFAULT_SCRIPT : names[0];
  let linkProblem = null;
  try {
    await applyShare();
  } catch (err) {
    linkProblem = err.message;
  }
  ui.picker.value = state.file;
  setSource(state.drafts[state.file] ?? scripts[state.file]);
  try {
    await engineLoad;
  } catch (err) {
    document.body.dataset.state = 'error';
    ui.status.className = 'status error';
    ui.status.textContent = `could not load the engine: ${err}`;
    return;
  }
  state.metrics.engineReadyAt = performance.now();
  state.metrics.wasmInitMs = state.metrics.engineReadyAt - state.metrics.engineStartAt;
  await runPlan();
  await editorLoad.catch((err) => {
    ui.editor.textContent = `could not load the editor: ${err}`;
  });
  if (linkProblem) {
    ui.status.className = 'status error';
    ui.status.textContent = linkProblem;
  }
}

state.metrics.appStartAt = performance.now();
main();
