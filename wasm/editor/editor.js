// The page's script editor: CodeMirror 6 with a small Rhai mode, completion from the
// engine's API names and the engine's diagnostics in the gutter. wasm/build.sh bundles
// this file and CodeMirror (npm, wasm/package.json) into wasm/www/pkg/editor.js with
// esbuild; the bundle imports nothing at run time.

import { EditorState, RangeSet, StateEffect, StateField } from '@codemirror/state';
import {
  EditorView, GutterMarker, drawSelection, gutterLineClass, highlightActiveLine,
  highlightActiveLineGutter, highlightSpecialChars, keymap, lineNumbers,
} from '@codemirror/view';
import {
  StreamLanguage, bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting,
} from '@codemirror/language';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { lintGutter, setDiagnostics } from '@codemirror/lint';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
// The script API's names as the engine registers them (a test keeps this file equal to
// the registrations); esbuild inlines it as text.
import apiNamesText from '../../engine/src/script/api_names.txt';

export const API_NAMES = apiNamesText.split('\n').filter(Boolean);

// Rhai's keywords (and the few built-ins that read like them).
export const KEYWORDS = [
  'as', 'break', 'catch', 'const', 'continue', 'do', 'else', 'export', 'fn', 'for', 'global',
  'if', 'import', 'in', 'let', 'loop', 'private', 'return', 'switch', 'this', 'throw', 'try',
  'until', 'while',
];
const ATOMS = new Set(['true', 'false']);
const KEYWORD_SET = new Set(KEYWORDS);

/** A Rhai mode for CodeMirror's StreamLanguage: comments (nested block comments), the
 *  three string kinds (with `${...}` inside back-ticks), numbers, keywords, the script
 *  API's names, definitions after `let`/`const`/`fn` and properties after a dot. */
function rhaiMode(apiNames) {
  const api = new Set(apiNames);
  // state.stack: '`' while in a back-tick string, a number (open braces) inside `${...}`.
  const code = (stream, state) => {
    if (stream.eatSpace()) return null;
    if (stream.match('//')) { stream.skipToEnd(); return 'lineComment'; }
    if (stream.match('/*')) { state.comment = 1; return blockComment(stream, state); }
    const top = state.stack[state.stack.length - 1];
    if (typeof top === 'number') {
      if (stream.peek() === '{') state.stack[state.stack.length - 1] += 1;
      if (stream.peek() === '}') {
        if (top === 0) { stream.next(); state.stack.pop(); return 'string.special'; }
        state.stack[state.stack.length - 1] -= 1;
      }
    }
    if (stream.match('"')) { state.quote = '"'; return quoted(stream, state); }
    if (stream.match('`')) { state.stack.push('`'); return backtick(stream, state); }
    if (stream.match(/^'(\\.|[^'\\])'/)) return 'string';
    if (stream.match(/^(0x[0-9a-fA-F_]+|0b[01_]+|0o[0-7_]+|\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?)/)) return 'number';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/);
    if (word) {
      const w = word[0];
      const after = state.after;
      state.after = KEYWORD_SET.has(w) ? w : null;
      if (ATOMS.has(w)) return 'bool';
      if (KEYWORD_SET.has(w)) return 'keyword';
      if (after === 'let' || after === 'const' || after === 'fn') return 'variableName.definition';
      if (state.dot) { state.dot = false; return 'propertyName'; }
      if (api.has(w)) return 'variableName.standard';
      return 'variableName';
    }
    const ch = stream.next();
    state.after = null;
    state.dot = ch === '.';
    if ('()[]{}'.includes(ch)) return 'bracket';
    if (',;'.includes(ch)) return 'punctuation';
    if (ch === '#' && stream.peek() === '{') return 'bracket';
    return 'operator';
  };
  const blockComment = (stream, state) => {
    while (!stream.eol()) {
      if (stream.match('/*')) state.comment += 1;
      else if (stream.match('*/')) { state.comment -= 1; if (!state.comment) break; }
      else stream.next();
    }
    return 'blockComment';
  };
  const quoted = (stream, state) => {
    let escaped = false;
    while (!stream.eol()) {
      const ch = stream.next();
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') { state.quote = null; return 'string'; }
    }
    // An unclosed string goes on to the next line only after a trailing backslash.
    if (!escaped) state.quote = null;
    return 'string';
  };
  const backtick = (stream, state) => {
    while (!stream.eol()) {
      if (stream.match('${', false)) {
        if (stream.current()) return 'string';
        stream.match('${');
        state.stack.push(0);
        return 'string.special';
      }
      const ch = stream.next();
      if (ch === '`') { state.stack.pop(); break; }
    }
    return 'string';
  };
  return {
    name: 'rhai',
    startState: () => ({ comment: 0, quote: null, stack: [], after: null, dot: false }),
    copyState: (s) => ({ ...s, stack: s.stack.slice() }),
    token(stream, state) {
      if (state.comment) return blockComment(stream, state);
      if (state.quote) return quoted(stream, state);
      if (state.stack[state.stack.length - 1] === '`') return backtick(stream, state);
      return code(stream, state);
    },
    languageData: { commentTokens: { line: '//', block: { open: '/*', close: '*/' } }, closeBrackets: { brackets: ['(', '[', '{', '"', '`'] } },
  };
}

/** Completion of the word before the cursor from the script API, the keywords and the
 *  names already used in the script. */
function completions(apiNames) {
  const fixed = [
    ...apiNames.map((label) => ({ label, type: 'function', boost: 1 })),
    ...KEYWORDS.map((label) => ({ label, type: 'keyword' })),
  ];
  const known = new Set([...apiNames, ...KEYWORDS]);
  return (context) => {
    const word = context.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
    if (!word || (word.from === word.to && !context.explicit)) return null;
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, word.from - line.from);
    // Not in a comment or after an odd number of quotes (inside a string).
    if (before.includes('//') || (before.replace(/\\./g, '').split('"').length - 1) % 2) return null;
    const local = new Set();
    for (const m of context.state.doc.toString().matchAll(/\b(?:let|const|fn)\s+([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (!known.has(m[1])) local.add(m[1]);
    }
    return {
      from: word.from,
      options: [...fixed, ...[...local].map((label) => ({ label, type: 'variable' }))],
      validFor: /^[A-Za-z0-9_]*$/,
    };
  };
}

// Diagnostics also mark their line number (a class the page styles and tests read).
class LineMark extends GutterMarker {
  constructor(severity) { super(); this.elementClass = `ds-${severity}`; }
  eq(other) { return other.elementClass === this.elementClass; }
}
const setLineMarks = StateEffect.define();
const lineMarks = StateField.define({
  create: () => RangeSet.empty,
  update(marks, tr) {
    for (const e of tr.effects) if (e.is(setLineMarks)) return e.value;
    return marks.map(tr.changes);
  },
  provide: (field) => gutterLineClass.from(field),
});

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px', backgroundColor: 'var(--panel)' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '20px', overflow: 'auto' },
  '.cm-gutters': { backgroundColor: '#f0f2f5', borderRight: '1px solid var(--line)', color: '#9aa6b2' },
  '.cm-lineNumbers .cm-gutterElement.ds-error': { backgroundColor: '#fde2e2', color: 'var(--error)', fontWeight: '700' },
  '.cm-lineNumbers .cm-gutterElement.ds-warning': { backgroundColor: '#fff3d6', color: 'var(--warning)', fontWeight: '700' },
  // Lint marks drawn without CodeMirror's data: images (the page's CSP allows no data: URL).
  '.cm-lintRange-error, .cm-lintRange-warning': { backgroundImage: 'none', textDecoration: 'underline wavy', textUnderlineOffset: '3px' },
  '.cm-lintRange-error': { textDecorationColor: 'var(--error)' },
  '.cm-lintRange-warning': { textDecorationColor: '#d99a00' },
  '.cm-lint-marker': { width: '9px', height: '9px', borderRadius: '50%', margin: '5px 2px 0' },
  '.cm-lint-marker-error': { content: 'none', backgroundColor: 'var(--error)' },
  '.cm-lint-marker-warning': { content: 'none', backgroundColor: '#f4c25b' },
  '.cm-tooltip.cm-tooltip-lint, .cm-tooltip-autocomplete': { maxWidth: 'min(560px, 80vw)', whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' },
});

/**
 * Mounts the editor in a shadow root of `host`. `onChange(text)` runs after each edit,
 * `onRun()` on Ctrl/Cmd-Enter. Returns the small API the page uses.
 *
 * Why a shadow root: CodeMirror styles itself with generated CSS. In a document it adds
 * <style> elements, which the page's Content-Security-Policy (style-src 'self') refuses;
 * in a shadow root it uses constructed style sheets, which need no inline style.
 */
export function createEditor({ host, doc, onChange, onRun, label, apiNames = API_NAMES }) {
  const root = host.shadowRoot || host.attachShadow({ mode: 'open' });
  const view = new EditorView({
    parent: root,
    root,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), drawSelection(),
        indentOnInput(), bracketMatching(), closeBrackets(), highlightActiveLine(), highlightSelectionMatches(),
        StreamLanguage.define(rhaiMode(apiNames)), syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        autocompletion({ override: [completions(apiNames)], icons: false }),
        lintGutter(), lineMarks, theme,
        EditorState.tabSize.of(4),
        EditorView.contentAttributes.of({ 'aria-label': label || 'Script source', spellcheck: 'false', autocapitalize: 'off', autocorrect: 'off' }),
        keymap.of([
          { key: 'Mod-Enter', run: () => { onRun?.(); return true; } },
          ...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...completionKeymap, indentWithTab,
        ]),
        EditorView.updateListener.of((u) => { if (u.docChanged) onChange?.(u.state.doc.toString()); }),
      ],
    }),
  });

  const pos = (line, column) => {
    const doc = view.state.doc;
    const l = doc.line(Math.max(1, Math.min(line, doc.lines)));
    return { line: l, at: l.from + Math.max(0, Math.min((column || 1) - 1, l.length)) };
  };

  return {
    view,
    getText: () => view.state.doc.toString(),
    /** Replaces the whole text (a new script: no undo across it), cursor at the start. */
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text }, selection: { anchor: 0 }, scrollIntoView: true });
    },
    /** `list`: the engine's diagnostics for this file ({ severity, message, line, column }). */
    setDiagnostics(list) {
      const marks = [];
      const diagnostics = [];
      for (const d of list) {
        if (!d.line) continue;
        const { line, at } = pos(d.line, d.column);
        const end = at < line.to ? at + (/^[A-Za-z0-9_]+/.exec(line.text.slice(at - line.from))?.[0].length || 1) : at;
        const severity = d.severity === 'error' ? 'error' : 'warning';
        diagnostics.push({ from: at, to: end, severity, message: d.message + (d.notes?.length ? '\n' + d.notes.join('\n') : ''), source: d.code || undefined });
        marks.push(new LineMark(severity).range(line.from));
      }
      // An error wins over a warning on the same line.
      marks.sort((a, b) => a.from - b.from || (a.value.elementClass === 'ds-error' ? -1 : 1));
      const unique = marks.filter((m, i) => !i || m.from !== marks[i - 1].from);
      view.dispatch(setDiagnostics(view.state, diagnostics), { effects: setLineMarks.of(RangeSet.of(unique)) });
    },
    /** Cursor to `line` (1-based), `column`, scrolled into view, editor focused. */
    gotoLine(line, column) {
      const { at } = pos(line, column);
      view.dispatch({ selection: { anchor: at }, effects: EditorView.scrollIntoView(at, { y: 'center' }) });
      view.focus();
    },
    cursorLine: () => view.state.doc.lineAt(view.state.selection.main.head).number,
    focus: () => view.focus(),
  };
}
