// The preview page: an editor, a parameter form and views of the plan that the
// engine (compiled to WebAssembly) computes as the person types. Everything
// happens in this page; it requests nothing but its own files.

import { scripts } from './pkg/scripts.js';
import * as firstInstance from './pkg/detscript_wasm.js';

const DEBOUNCE_MS = 150;
const DEFAULT_SCRIPT = 'deploy.rhai';
const LINE_HEIGHT = 20; // px, keep in sync with --line-height in style.css

// Scripts are named as the CLI names them when run from the repository root
// (`detscript plan scripts/deploy.rhai`): the name is part of the plan JSON.
const pathOf = (name) => `scripts/${name}`;
const isCurrent = (file) => file === pathOf(state.file) || file === state.file;

const $ = (id) => document.getElementById(id);
const ui = {
  picker: $('script-picker'), reset: $('reset-script'), status: $('status'),
  source: $('source'), gutter: $('gutter'), fields: $('param-fields'), paramsNote: $('params-note'),
  tabs: $('tabs'), stale: $('stale-banner'), showDiagnostics: $('show-diagnostics'),
  views: {
    plan: $('view-plan'), graph: $('view-graph'), 'master-yaml': $('view-master-yaml'),
    'user-data': $('view-user-data'), json: $('view-json'), diagnostics: $('view-diagnostics'),
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
};
window.__detscript = state;

let engine = null;        // the wasm-bindgen module
const modulesJson = JSON.stringify(scripts);

// ---------------------------------------------------------------- engine

async function loadEngine() {
  // A fresh module instance after a trap: wasm built with panic=abort cannot be
  // reused once it has trapped, so import the glue again (same files, same origin).
  const mod = state.moduleGen ? await import(`./pkg/detscript_wasm.js?instance=${state.moduleGen}`) : firstInstance;
  await mod.default();
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

async function runPlan() {
  if (!engine) return;
  const started = performance.now();
  let result;
  try {
    // The form first: only parameters the script (as it is now) declares are sent, so
    // removing a declaration does not leave an "unknown parameter" behind.
    // (Before the form exists no values are sent, and the plan's own list builds it.)
    if (state.paramSpecKey) {
      const declared = JSON.parse(engine.params(pathOf(state.file), ui.source.value, modulesJson));
      if (declared.ok || declared.params.length) buildForm(declared.params);
    }
    result = JSON.parse(engine.plan(pathOf(state.file), ui.source.value, JSON.stringify(currentParams()), modulesJson));
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
  // never shrinks, so once it is large the next plan runs in a fresh instance.
  if (engine && result.restart) {
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
  }
  render(result, planMs);
}

// ---------------------------------------------------------------- editor

function setSource(text) {
  ui.source.value = text;
  ui.source.scrollTop = 0;
  updateGutter();
}

let gutterLines = 0;
function updateGutter() {
  const lines = ui.source.value.split('\n').length;
  if (lines !== gutterLines) {
    const frag = document.createDocumentFragment();
    for (let i = 1; i <= lines; i++) {
      const div = document.createElement('div');
      div.textContent = i;
      frag.appendChild(div);
    }
    ui.gutter.replaceChildren(frag);
    gutterLines = lines;
  }
  markGutter(state.lastResult ? state.lastResult.diagnostics : []);
  ui.gutter.scrollTop = ui.source.scrollTop;
}

function markGutter(diagnostics) {
  for (const el of ui.gutter.querySelectorAll('.error, .warning')) {
    el.classList.remove('error', 'warning');
    el.removeAttribute('title');
  }
  for (const d of diagnostics || []) {
    if (!d.line || !isCurrent(d.file)) continue;
    const el = ui.gutter.children[d.line - 1];
    if (!el) continue;
    if (!el.classList.contains('error')) {
      el.classList.remove('warning');
      el.classList.add(d.severity === 'error' ? 'error' : 'warning');
    }
    el.title = (el.title ? el.title + '\n' : '') + d.message;
  }
}

/** Puts the editor cursor at the start of `line` (1-based), column `column`. */
function gotoLine(line, column = 1) {
  const lines = ui.source.value.split('\n');
  const target = Math.max(1, Math.min(line, lines.length));
  let offset = 0;
  for (let i = 0; i < target - 1; i++) offset += lines[i].length + 1;
  offset += Math.max(0, Math.min((column || 1) - 1, lines[target - 1].length));
  ui.source.focus();
  ui.source.setSelectionRange(offset, offset);
  const top = (target - 1) * LINE_HEIGHT;
  const view = ui.source.clientHeight;
  if (top < ui.source.scrollTop || top > ui.source.scrollTop + view - 2 * LINE_HEIGHT) {
    ui.source.scrollTop = Math.max(0, top - view / 3);
  }
  ui.gutter.scrollTop = ui.source.scrollTop;
  const el = ui.gutter.children[target - 1];
  if (el) {
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 900);
  }
}

let timer = null;
function schedulePlan() {
  clearTimeout(timer);
  timer = setTimeout(runPlan, DEBOUNCE_MS);
}

ui.source.addEventListener('input', () => {
  state.drafts[state.file] = ui.source.value;
  updateGutter();
  schedulePlan();
});
ui.source.addEventListener('scroll', () => { ui.gutter.scrollTop = ui.source.scrollTop; });
ui.source.addEventListener('keydown', (e) => {
  const t = ui.source;
  if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
    e.preventDefault();
    document.execCommand('insertText', false, '    ');
  } else if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey) {
    const start = t.value.lastIndexOf('\n', t.selectionStart - 1) + 1;
    const indent = /^[ \t]*/.exec(t.value.slice(start, t.selectionStart))[0];
    if (indent) {
      e.preventDefault();
      document.execCommand('insertText', false, '\n' + indent);
    }
  } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    clearTimeout(timer);
    runPlan();
  }
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
    const edited = (e) => {
      // Secrets stay in their input only; other values are remembered for rebuilds.
      if (!spec.secret) state.values[spec.name] = e.target.value;
      schedulePlan();
    };
    const common = { id, name: spec.name, dataset: { param: spec.name, kind }, oninput: edited, onchange: edited };
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
  const title = known
    ? `known after apply: ${attr || 'value'} of ${owner}`
    : param ? `parameter ${param} has no value in this preview` : `unknown in this preview: ${ref}`;
  const from = known ? `← ${owner}` : param ? `← parameter ${param} (no value)` : '← not known until apply';
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
    result.text ? el('button', { type: 'button', class: 'small', title: 'The plan as `detscript plan` prints it', onclick: (e) => copyText(result.text, e.currentTarget) }, 'Copy as text') : null);
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
    renderGraph(plan, result.dot);
    renderFile('master-yaml', 'master.yaml', result.master_yaml, 'text/yaml', 'This plan has no master_instance, so there is no master.yaml.');
    renderFile('user-data', 'user-data.sh', result.user_data, 'text/x-shellscript', 'This plan has no master_instance, so there is no user-data.');
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

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** Layered layout: a node's column is the longest dependency chain below it;
 *  rows are ordered by a few barycenter sweeps to keep edges from crossing. */
function layout(resources) {
  const byId = new Map(resources.map((r) => [r.id, r]));
  const deps = new Map(resources.map((r) => [r.id, (r.depends_on || []).filter((d) => byId.has(d))]));
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0; // a cycle: the engine reports it, the drawing survives it
    visiting.add(id);
    const d = deps.get(id).reduce((m, dep) => Math.max(m, depth(dep) + 1), 0);
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  resources.forEach((r) => depth(r.id));
  const layers = [];
  for (const r of resources) (layers[layer.get(r.id)] ||= []).push(r.id);
  const dependents = new Map(resources.map((r) => [r.id, []]));
  for (const [id, ds] of deps) for (const d of ds) dependents.get(d).push(id);
  const pos = new Map();
  const index = () => layers.forEach((ids) => ids.forEach((id, i) => pos.set(id, i)));
  index();
  const bary = (id, nbrs) => (nbrs.length ? nbrs.reduce((s, n) => s + pos.get(n), 0) / nbrs.length : pos.get(id));
  for (let sweep = 0; sweep < 4; sweep++) {
    const forward = sweep % 2 === 0;
    const order = forward ? layers.slice(1) : layers.slice(0, -1).reverse();
    for (const ids of order) {
      const key = new Map(ids.map((id) => [id, bary(id, forward ? deps.get(id) : dependents.get(id))]));
      ids.sort((a, b) => key.get(a) - key.get(b));
      ids.forEach((id, i) => pos.set(id, i));
    }
  }
  return { layers, deps };
}

const KIND_COLORS = ['#2f6f9f', '#8a5a00', '#2e7d32', '#8e3b8e', '#b23c17', '#3f51b5', '#00796b', '#6d4c41'];

function renderGraph(plan, dot) {
  const resources = plan.resources;
  const { layers, deps } = layout(resources);
  const W = 250, H = 44, GX = 70, GY = 16, PAD = 16;
  const kinds = [...new Set(resources.map((r) => r.kind))];
  const color = (kind) => KIND_COLORS[kinds.indexOf(kind) % KIND_COLORS.length];
  const rows = Math.max(1, ...layers.map((l) => l.length));
  const width = PAD * 2 + layers.length * W + Math.max(0, layers.length - 1) * GX;
  const height = PAD * 2 + rows * H + (rows - 1) * GY + 28;
  const at = new Map();
  layers.forEach((ids, col) => {
    const offset = ((rows - ids.length) * (H + GY)) / 2;
    ids.forEach((id, row) => at.set(id, { x: PAD + col * (W + GX), y: PAD + offset + row * (H + GY) }));
  });
  const byId = new Map(resources.map((r) => [r.id, r]));
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'graph', role: 'img', 'aria-label': 'Dependency graph' },
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
  const edges = svg('g', { class: 'edges' });
  for (const [id, ds] of deps) {
    for (const d of ds) {
      const a = at.get(d), b = at.get(id);
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
      const mid = (x1 + x2) / 2;
      edges.append(svg('path', {
        d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: 'edge', 'marker-end': 'url(#arrow)',
        'data-from': d, 'data-to': id,
      }, svg('title', {}, `${id} depends on ${d}`)));
    }
  }
  const nodes = svg('g', { class: 'nodes' });
  for (const [id, p] of at) {
    const r = byId.get(id);
    const label = id.length > 34 ? id.slice(0, 33) + '…' : id;
    const g = svg('g', { class: 'node', transform: `translate(${p.x},${p.y})`, 'data-id': id, tabindex: '0' },
      svg('title', {}, `${id}${r.name ? ` (${typeof r.name === 'string' ? r.name : JSON.stringify(r.name)})` : ''}\nclick: show in Plan`),
      svg('rect', { width: W, height: H, rx: '6', fill: '#fff', stroke: color(r.kind) }),
      svg('rect', { width: '6', height: H, rx: '3', fill: color(r.kind) }),
      svg('text', { x: '14', y: '18', class: 'node-id' }, label),
      svg('text', { x: '14', y: '35', class: 'node-kind', fill: color(r.kind) }, r.kind));
    g.addEventListener('click', () => focusResource(id));
    g.addEventListener('mouseenter', () => highlight(edges, id, true));
    g.addEventListener('mouseleave', () => highlight(edges, id, false));
    nodes.append(g);
  }
  const legend = svg('text', { x: PAD, y: height - 10, class: 'legend' },
    `${resources.length} resources · arrows point from a resource to those that need it (creation order)`);
  root.append(edges, nodes, legend);
  const toolbar = el('div', { class: 'toolbar' }, el('span', { class: 'filename' }, 'dependency graph'),
    dot ? el('button', { type: 'button', title: 'Graphviz source, as `detscript graph` writes it', onclick: () => download('plan.dot', dot, 'text/vnd.graphviz') }, 'Download DOT') : null);
  ui.views.graph.replaceChildren(toolbar, root);
}

function highlight(edges, id, on) {
  for (const e of edges.querySelectorAll(`[data-from="${CSS.escape(id)}"], [data-to="${CSS.escape(id)}"]`)) {
    e.classList.toggle('hot', on);
  }
}

// ---------------------------------------------------------------- tabs

function selectView(name) {
  flushViews();
  for (const btn of ui.tabs.querySelectorAll('button')) btn.setAttribute('aria-selected', String(btn.dataset.view === name));
  for (const [key, view] of Object.entries(ui.views)) view.hidden = key !== name;
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
  state.file = names.includes(DEFAULT_SCRIPT) ? DEFAULT_SCRIPT : names[0];
  ui.picker.value = state.file;
  setSource(scripts[state.file]);
  const t0 = performance.now();
  state.metrics.engineStartAt = t0;
  try {
    await loadEngine();
  } catch (err) {
    document.body.dataset.state = 'error';
    ui.status.className = 'status error';
    ui.status.textContent = `could not load the engine: ${err}`;
    return;
  }
  state.metrics.engineReadyAt = performance.now();
  state.metrics.wasmInitMs = state.metrics.engineReadyAt - t0;
  runPlan();
}

main();
