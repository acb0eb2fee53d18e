// The dependency graph view: an SVG laid out like `detscript graph` draws its DOT
// (rankdir RL: what a resource needs is to its left, arrows point from a resource to
// what it depends on), scaled to the width of its pane, full labels wrapped in the node.

const SVG = 'http://www.w3.org/2000/svg';
const KIND_COLORS = ['#2f6f9f', '#8a5a00', '#2e7d32', '#8e3b8e', '#b23c17', '#3f51b5', '#00796b', '#6d4c41'];
const FONT = '600 12px ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace';
const LINE = 15;      // px between label lines
const MAX_TEXT = 190; // px of a label line before it wraps
const GX = 44, GY = 12, PAD = 12;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

let measurer;
function textWidth(text) {
  measurer ||= document.createElement('canvas').getContext('2d');
  measurer.font = FONT;
  return measurer.measureText(text).width;
}

/** The id after its kind, cut into lines of at most MAX_TEXT px, after '-', '.' or '/'
 *  where it can (joined back, the lines are the name exactly). */
export function wrapLabel(name) {
  const pieces = name.match(/[^-./]*[-./]?/g).filter(Boolean);
  const lines = [];
  let line = '';
  for (const piece of pieces) {
    if (line && textWidth(line + piece) > MAX_TEXT) { lines.push(line); line = ''; }
    // A piece longer than a line on its own: cut it where it overflows.
    let rest = piece;
    while (textWidth(line + rest) > MAX_TEXT && rest.length > 1) {
      let n = rest.length - 1;
      while (n > 1 && textWidth(line + rest.slice(0, n)) > MAX_TEXT) n--;
      lines.push(line + rest.slice(0, n));
      line = '';
      rest = rest.slice(n);
    }
    line += rest;
  }
  if (line || !lines.length) lines.push(line);
  return lines;
}

/** Layered layout: a node's column is the longest dependency chain below it (so what it
 *  needs is to its left); rows are ordered by a few barycenter sweeps to keep edges from
 *  crossing. */
export function layout(resources) {
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
  layers.forEach((ids) => ids.forEach((id, i) => pos.set(id, i)));
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

/** The graph as an SVG element that scales to its container's width (never wider).
 *  `onSelect(id)` runs when a node is clicked or Enter is pressed on it. */
export function graphSvg(plan, { onSelect } = {}) {
  const resources = plan.resources;
  const { layers, deps } = layout(resources);
  const kinds = [...new Set(resources.map((r) => r.kind))];
  const color = (kind) => KIND_COLORS[kinds.indexOf(kind) % KIND_COLORS.length];
  const byId = new Map(resources.map((r) => [r.id, r]));
  const labels = new Map(resources.map((r) => [r.id, wrapLabel(r.id.startsWith(r.kind + '.') ? r.id.slice(r.kind.length + 1) : r.id)]));
  const W = Math.ceil(Math.max(120, ...[...labels.values()].flat().map(textWidth), ...kinds.map(textWidth)) + 24);
  const heightOf = (id) => 12 + LINE * (1 + labels.get(id).length);
  const colHeight = (ids) => ids.reduce((h, id) => h + heightOf(id), 0) + Math.max(0, ids.length - 1) * GY;
  const tallest = Math.max(1, ...layers.map(colHeight));
  const width = PAD * 2 + layers.length * W + Math.max(0, layers.length - 1) * GX;
  const height = PAD * 2 + tallest;
  const at = new Map();
  layers.forEach((ids, col) => {
    let y = PAD + (tallest - colHeight(ids)) / 2;
    for (const id of ids) {
      at.set(id, { x: PAD + col * (W + GX), y, h: heightOf(id) });
      y += heightOf(id) + GY;
    }
  });
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'graph', role: 'img', 'aria-label': 'Dependency graph',
    preserveAspectRatio: 'xMinYMin meet', width,
  }, svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto' },
    svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
  const edges = svg('g', { class: 'edges' });
  for (const [id, ds] of deps) {
    for (const d of ds) {
      // From the resource (right) to what it depends on (left), as `detscript graph`'s edges.
      const from = at.get(id), to = at.get(d);
      const x1 = from.x, y1 = from.y + from.h / 2, x2 = to.x + W, y2 = to.y + to.h / 2;
      const mid = (x1 + x2) / 2;
      edges.append(svg('path', {
        d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: 'edge', 'marker-end': 'url(#arrow)',
        'data-from': id, 'data-to': d,
      }, svg('title', {}, `${id} depends on ${d}`)));
    }
  }
  const nodes = svg('g', { class: 'nodes' });
  for (const [id, p] of at) {
    const r = byId.get(id);
    const name = typeof r.name === 'string' ? r.name : JSON.stringify(r.name);
    const g = svg('g', { class: 'node', transform: `translate(${p.x},${p.y})`, 'data-id': id, tabindex: '0' },
      svg('title', {}, `${id}${r.name ? ` (${name})` : ''}\nclick: show in Plan`),
      svg('rect', { width: W, height: p.h, rx: '6', fill: '#fff', stroke: color(r.kind) }),
      svg('rect', { width: '6', height: p.h, rx: '3', fill: color(r.kind) }),
      svg('text', { x: '14', y: String(6 + LINE - 3), class: 'node-kind', fill: color(r.kind) }, r.kind),
      svg('text', { x: '14', class: 'node-id' }, ...labels.get(id).map((line, i) =>
        svg('tspan', { x: '14', y: String(6 + LINE * (i + 2) - 3) }, line))));
    g.addEventListener('click', () => onSelect?.(id));
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter') onSelect?.(id); });
    g.addEventListener('mouseenter', () => highlight(edges, id, true));
    g.addEventListener('mouseleave', () => highlight(edges, id, false));
    nodes.append(g);
  }
  root.append(edges, nodes);
  return root;
}

function highlight(edges, id, on) {
  for (const e of edges.querySelectorAll(`[data-from="${CSS.escape(id)}"], [data-to="${CSS.escape(id)}"]`)) {
    e.classList.toggle('hot', on);
  }
}
