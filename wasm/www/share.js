// Keeping the page's work: edits in local storage (they survive a reload) and the script
// in the URL fragment (a link that opens the same script, byte for byte). The fragment
// never reaches a server; secrets are never put in it.
//
// Fragment: #file=deploy.rhai&script=<base64url of deflate-raw of the UTF-8 source>
//           &params=<base64url of the JSON of the non-secret parameter values>
// `script` is left out while the script is the bundled one, `params` when there are none.

const STORE = 'detscript.page.v1';

/** { drafts: { name: source }, file, values: { param: text } } from local storage. */
export function loadStored() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE) || '{}');
    return {
      drafts: saved.drafts && typeof saved.drafts === 'object' ? saved.drafts : {},
      file: typeof saved.file === 'string' ? saved.file : null,
      values: saved.values && typeof saved.values === 'object' ? saved.values : {},
    };
  } catch {
    return { drafts: {}, file: null, values: {} };
  }
}

export function store({ drafts, file, values }) {
  try {
    localStorage.setItem(STORE, JSON.stringify({ drafts, file, values }));
  } catch {
    // Storage full or disabled: the fragment still keeps the open script.
  }
}

async function pipe(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

function toBase64Url(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The fragment (without '#') for this script and its non-secret parameter values. */
export async function encodeShare({ file, source, bundled, values }) {
  const parts = new URLSearchParams({ file });
  if (source !== bundled) {
    parts.set('script', toBase64Url(await pipe(new TextEncoder().encode(source), new CompressionStream('deflate-raw'))));
  }
  const kept = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
  if (Object.keys(kept).length) parts.set('params', toBase64Url(new TextEncoder().encode(JSON.stringify(kept))));
  return parts.toString();
}

/** `{ file, source?, values? }` from a fragment, or null when it holds no script. Throws
 *  an Error saying what is wrong with a damaged one. */
export async function decodeShare(hash) {
  const parts = new URLSearchParams(hash.replace(/^#/, ''));
  const file = parts.get('file');
  if (!file) return null;
  const shared = { file };
  try {
    if (parts.has('script')) {
      const bytes = await pipe(fromBase64Url(parts.get('script')), new DecompressionStream('deflate-raw'));
      shared.source = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    }
    if (parts.has('params')) {
      const values = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(fromBase64Url(parts.get('params'))));
      shared.values = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)]));
    }
  } catch (err) {
    throw new Error(`the link's script is damaged (${err.message || err}); showing ${file} as bundled`);
  }
  return shared;
}
