// The code editor (CodeMirror 6): Python highlighting, line numbers, lint markers from
// the sandbox's validation, a highlighted line for a run-time error; and the merge view.
import { EditorView, basicSetup } from 'codemirror';
import { python } from '@codemirror/lang-python';
import { EditorState, StateEffect, StateField } from '@codemirror/state';
import { Decoration, keymap } from '@codemirror/view';
import { indentWithTab } from '@codemirror/commands';
import { setDiagnostics, lintGutter } from '@codemirror/lint';
import { MergeView } from '@codemirror/merge';
import { diagnostics } from './problems.js';

const setErrorLine = StateEffect.define();
const errorLineMark = Decoration.line({ class: 'cm-error-line' });
const errorLineField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    let value = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (e.is(setErrorLine)) {
        value = e.value === null ? Decoration.none : Decoration.set([errorLineMark.range(e.value)]);
      }
    }
    return tr.docChanged ? Decoration.none : value;
  },
  provide: (f) => EditorView.decorations.from(f),
});

// The page's per-load style nonce (its Content-Security-Policy allows only that inline
// <style>, which CodeMirror writes its theme into).
const meta = typeof document !== 'undefined' ? document.querySelector('meta[name=csp-nonce]') : null;
const nonce = EditorView.cspNonce.of(meta ? meta.content : '');

function language(file) {
  return file.endsWith('.py') ? [python()] : [];
}

export function createEditor(parent, { file, text, onChange, label }) {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        nonce,
        basicSetup,
        keymap.of([indentWithTab]),
        language(file),
        lintGutter(),
        errorLineField,
        EditorView.contentAttributes.of({ 'aria-label': label || file }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    setText(value) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value } });
    },
    showProblems(problems) {
      const doc = view.state.doc;
      const list = diagnostics(problems, file, doc.lines, (n) => doc.line(n));
      view.dispatch(setDiagnostics(view.state, list));
    },
    showErrorLine(line) {
      if (!line || line < 1 || line > view.state.doc.lines) {
        view.dispatch({ effects: setErrorLine.of(null) });
        return;
      }
      const pos = view.state.doc.line(line).from;
      view.dispatch({
        effects: [setErrorLine.of(pos), EditorView.scrollIntoView(pos, { y: 'center' })],
      });
    },
    destroy: () => view.destroy(),
  };
}

export function createMerge(parent, left, right) {
  const readOnly = [nonce, basicSetup, python(), EditorView.lineWrapping, EditorState.readOnly.of(true), EditorView.editable.of(false)];
  return new MergeView({
    parent,
    a: { doc: left, extensions: readOnly },
    b: { doc: right, extensions: readOnly },
    collapseUnchanged: { margin: 3, minSize: 6 },
  });
}
