// The editor's file list: one tab per file (arrow keys, Home and End move between them),
// a problem count on each, an editor per file, "add a .py file" and "delete this file".
import { h, replace } from './dom.js';
import { createEditor } from './editor.js';
import { deletable, fileNameProblem, orderFiles, problemsPerFile } from './files.js';

// `files` is the view's {name: text} (changed in place); `onChange(name)` after an edit,
// an addition or a deletion.
export function fileTabs(files, onChange) {
  const editors = {};
  const panels = {};
  const list = h('div', { class: 'tabs file-tabs', role: 'tablist', 'aria-label': 'Files' });
  const panelBox = h('div', { class: 'file-panels' });
  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const newName = h('input', { id: 'new-file-name', placeholder: 'helpers.py', spellcheck: 'false', 'aria-describedby': 'new-file-status' });
  status.id = 'new-file-status';
  const addForm = h('form', { class: 'add-file' },
    h('label', { for: 'new-file-name' }, 'New .py file'), newName,
    h('button', { type: 'submit', id: 'add-file' }, 'Add file'), status);
  let current = 'handler.py';
  let counts = {};

  const tabId = (name) => `file-tab-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  const names = () => orderFiles(Object.keys(files).filter((n) => n !== 'handler.py' && n !== 'function.toml'));

  function ensureEditor(name) {
    if (editors[name]) return;
    const holder = h('div', { class: 'editor', dataset: { file: name } });
    editors[name] = createEditor(holder, {
      file: name,
      text: files[name] ?? '',
      label: `${name} editor`,
      onChange: (text) => {
        files[name] = text;
        editors[name].showErrorLine(null);
        onChange(name);
      },
    });
    panels[name] = h('div', { role: 'tabpanel', id: `${tabId(name)}-panel`, 'aria-labelledby': tabId(name), class: 'tabpanel' }, holder);
  }

  function draw(focus = false) {
    const all = names();
    if (!all.includes(current)) current = 'handler.py';
    replace(list, all.map((name, i) => {
      const n = counts[name] || 0;
      const b = h('button', {
        type: 'button', role: 'tab', id: tabId(name), 'aria-controls': `${tabId(name)}-panel`,
        'aria-selected': String(name === current), tabindex: name === current ? 0 : -1, dataset: { tabFile: name },
        onclick: () => select(name),
      }, name, n ? h('span', { class: 'count bad', 'aria-label': `${n} problem${n === 1 ? '' : 's'}` }, String(n)) : null);
      b.addEventListener('keydown', (e) => {
        const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
        if (to === undefined) return;
        e.preventDefault();
        select(all[(to + all.length) % all.length], true);
      });
      return b;
    }));
    replace(panelBox, all.map((name) => {
      ensureEditor(name);
      panels[name].hidden = name !== current;
      return panels[name];
    }));
    removeButton.hidden = !deletable(current);
    if (focus) list.querySelector('[aria-selected=true]').focus();
  }

  function select(name, focus = false) {
    current = name;
    draw(focus);
  }

  function remove(name) {
    if (!deletable(name) || !(name in files)) return;
    delete files[name];
    if (editors[name]) editors[name].destroy();
    delete editors[name];
    delete panels[name];
    draw();
    onChange(name);
  }

  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = newName.value.trim();
    const problem = fileNameProblem(name, Object.keys(files));
    if (problem) {
      status.textContent = problem;
      status.className = 'message message-error';
      return;
    }
    files[name] = '';
    newName.value = '';
    status.textContent = `Added ${name}.`;
    status.className = 'muted';
    select(name);
    editors[name].view.focus();
    onChange(name);
  });

  const removeButton = h('button', { type: 'button', id: 'delete-file', class: 'danger' }, 'Delete this file');
  removeButton.addEventListener('click', () => {
    const name = current;
    if (!deletable(name)) return;
    remove(name);
    status.textContent = `Deleted ${name} (not saved until you save a version).`;
  });
  draw();
  return {
    el: h('div', { class: 'tabset' }, list, panelBox, h('div', { class: 'file-actions' }, removeButton, addForm)),
    editors,
    select,
    current: () => current,
    // Every file's lint markers, and the count on its tab.
    showProblems(problems) {
      counts = problemsPerFile(problems);
      for (const editor of Object.values(editors)) editor.showProblems(problems);
      draw();
    },
    // A run-time error's line in its file (handler.py when it names none).
    showErrorLine(file, line) {
      for (const [name, editor] of Object.entries(editors)) editor.showErrorLine(name === file ? line : null);
      if (line && editors[file]) select(file);
    },
    // Replace every file (opening a version).
    setFiles(next) {
      for (const name of Object.keys(files)) {
        if (!(name in next)) {
          if (editors[name]) editors[name].destroy();
          delete editors[name];
          delete panels[name];
          delete files[name];
        }
      }
      for (const [name, text] of Object.entries(next)) {
        files[name] = text;
        if (editors[name]) editors[name].setText(text);
      }
      current = 'handler.py';
      draw();
    },
    destroy() {
      for (const e of Object.values(editors)) e.destroy();
    },
  };
}
