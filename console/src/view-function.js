// A function: its files in the editor (validated as you type), and the test, settings
// and deploy, and versions panes. A new function is a draft until it is saved.
import { h, json, replace, when } from './dom.js';
import { fileTabs as makeFileTabs } from './file-tabs.js';
import { HANDLER, uploadFiles, versionFiles } from './files.js';
import { debounce, latest } from './problems.js';
import { SAMPLES } from './samples.js';
import { TEMPLATES, freshName, withName } from './templates.js';
import { errorText, message, runResult, tabs } from './ui.js';
import { settingsPane } from './pane-settings.js';
import { versionsPane } from './pane-versions.js';

export function newFunctionView(app) {
  const status = h('div');
  const taken = app.data.functions.map((f) => f.name);
  const name = h('input', { id: 'new-name', required: true, pattern: '[A-Za-z0-9_.\\-]+', value: freshName(TEMPLATES[0].id, taken) });
  const choices = TEMPLATES.map((t, i) =>
    h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'template', value: t.id, checked: i === 0,
        onchange: () => { name.value = freshName(t.id, taken); } }),
      t.title));
  const form = h('form', { class: 'card' },
    h('fieldset', {}, h('legend', {}, 'Template'), choices),
    h('label', { for: 'new-name' }, 'Name'), name,
    h('button', { type: 'submit', class: 'primary' }, 'Open in the editor'), status);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = form.querySelector('input[name=template]:checked').value;
    const template = TEMPLATES.find((t) => t.id === id);
    app.draft = { name: name.value, files: { ...template.files, 'function.toml': withName(template.files['function.toml'], name.value) } };
    app.go('#/function/draft');
  });
  return { el: h('section', {}, h('h1', {}, 'New function'), form) };
}

export function functionView(app, id) {
  const el = h('section', { class: 'fn-view' }, h('p', { class: 'muted' }, 'Loading…'));
  const view = { el, cleanup: null };
  load(app, id, el, view).catch((err) => replace(el, h('p', { class: 'message message-error', role: 'alert' }, errorText(err))));
  return view;
}

async function load(app, id, el, view) {
  const st = { fn: null, instances: [], versions: [], files: {}, manifest: null, valid: false };
  if (id === 'draft') {
    if (!app.draft) return app.go('#/new');
    st.files = { ...app.draft.files };
  } else {
    const got = await app.client.func(id);
    st.fn = got.function;
    st.instances = got.instances;
    st.versions = (await app.client.versions(id)).versions;
    const latestVersion = st.versions.find((v) => v.id === st.fn.latest_version) || st.versions[st.versions.length - 1];
    if (latestVersion) {
      st.files = versionFiles(await app.client.version(latestVersion.id));
    }
  }
  const title = st.fn ? st.fn.name : `${app.draft.name} (draft, not saved)`;
  const validity = h('span', { class: 'validity', role: 'status', 'aria-live': 'polite' });
  const saveStatus = h('div');
  const problemsList = h('ul', { class: 'problems', 'aria-label': 'Problems' });
  if (st.files['function.toml'] === undefined) st.files['function.toml'] = '';
  const fileTabs = makeFileTabs(st.files, () => check());
  const editors = fileTabs.editors;

  const guard = latest();
  const check = debounce(async () => {
    const files = uploadFiles(st.files);
    try {
      const { value, stale } = await guard(app.client.validate(files));
      if (stale) return;
      st.valid = value.ok;
      fileTabs.showProblems(value.problems);
      drawProblems(value.problems, value.warnings);
      if (value.ok) {
        st.manifest = value.manifest;
        validity.textContent = `Valid · handlers: ${value.handlers.join(', ')}`;
        validity.className = 'validity ok';
        settings.manifestChanged(st.manifest);
      } else {
        validity.textContent = `${value.problems.length} problem${value.problems.length === 1 ? '' : 's'}`;
        validity.className = 'validity bad';
      }
    } catch (err) {
      validity.textContent = `Could not validate: ${errorText(err)}`;
      validity.className = 'validity bad';
    }
  }, 400);

  function drawProblems(problems, warnings) {
    const items = [...problems.map((p) => ({ ...p, kind: 'error' })), ...(warnings || []).map((p) => ({ ...p, kind: 'warning' }))];
    replace(problemsList, items.map((p) =>
      h('li', { class: `problem problem-${p.kind}` },
        h('button', { type: 'button', class: 'link', onclick: () => jump(p.file || 'handler.py', p.line) }, `${p.file || 'handler.py'}:${p.line || 1}`),
        ` ${p.message}`)));
  }

  function jump(file, line) {
    if (editors[file]) fileTabs.select(file);
    const editor = editors[file] || editors[HANDLER];
    const doc = editor.view.state.doc;
    const pos = doc.line(Math.min(Math.max(line || 1, 1), doc.lines)).from;
    editor.view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    editor.view.focus();
  }

  const save = h('button', { type: 'button', class: 'primary', id: 'save-version' }, st.fn ? 'Save version' : 'Create function');
  save.addEventListener('click', async () => {
    check.cancel();
    save.disabled = true;
    try {
      const files = uploadFiles(st.files);
      if (!st.fn) {
        const made = await app.client.createFunction(files, app.draft.name);
        app.draft = null;
        await app.refresh();
        app.go(`#/function/${made.function.id}`);
        return;
      }
      const { version } = await app.client.uploadVersion(st.fn.id, files);
      st.versions = (await app.client.versions(st.fn.id)).versions;
      message(saveStatus, `Saved as version ${version.number} (${version.id}).`, 'ok');
      versions.refresh();
      settings.versionsChanged(st.versions);
      app.refresh();
    } catch (err) {
      if (err.problems && err.problems.length) check();
      message(saveStatus, errorText(err), 'error');
    } finally {
      save.disabled = false;
    }
  });

  const test = testPane(app, st, fileTabs);
  const settings = settingsPane(app, st);
  const versions = versionsPane(app, st, (files) => fileTabs.setFiles(files));
  const side = tabs(
    [
      { id: 'test', title: 'Test', panel: test.el },
      { id: 'settings', title: 'Settings & deploy', panel: settings.el },
      { id: 'versions', title: 'Versions', panel: versions.el },
    ],
    null,
    'Function panes',
  );

  replace(
    el,
    h('header', { class: 'view-head' }, h('h1', {}, title), st.fn ? h('span', { class: 'chip' }, st.fn.kind) : null, validity, h('span', { class: 'spacer' }), save),
    saveStatus,
    h('div', { class: 'split' }, h('div', { class: 'editor-pane' }, fileTabs.el, problemsList), h('div', { class: 'side-pane' }, side.el)),
  );
  check();
  view.cleanup = () => {
    check.cancel();
    fileTabs.destroy();
    versions.destroy();
  };
}

export { uploadFiles };

function testPane(app, st, fileTabs) {
  const result = h('div', { class: 'test-result', 'aria-live': 'polite' });
  const textarea = h('textarea', { id: 'test-event', rows: 12, spellcheck: 'false', class: 'code' });
  const picker = h('select', { id: 'test-pick' },
    h('option', { value: '' }, 'Paste an event below, or pick one…'),
    h('optgroup', { label: 'Sample events' }, SAMPLES.map((s) => h('option', { value: `sample:${s.name}` }, s.name))));
  const recent = h('optgroup', { label: 'Recent real events' });
  picker.append(recent);
  const recentEvents = [];
  picker.addEventListener('change', () => {
    const [kind, name] = picker.value.split(/:(.*)/s);
    if (kind === 'sample') textarea.value = json(SAMPLES.find((s) => s.name === name).event);
    if (kind === 'recent') textarea.value = json(recentEvents[Number(name)]);
  });
  const settingsFrom = h('select', { id: 'test-settings' },
    h('option', { value: '' }, 'the Settings & deploy form'),
    st.instances.map((i) => h('option', { value: i.id }, `instance ${i.id} (stored, secrets included)`)));
  const run = h('button', { type: 'submit', class: 'primary', id: 'run-test' }, 'Run test');
  const form = h('form', { class: 'stack' },
    h('label', { for: 'test-pick' }, 'Event'), picker,
    h('label', { for: 'test-event' }, 'Event JSON (one event, or an array for a batch)'), textarea,
    h('label', { for: 'test-settings' }, 'Settings from'), settingsFrom,
    h('p', { class: 'muted' }, 'Runs the code in the editor (unsaved) in the sandbox. Ctrl+Enter runs.'),
    run, result);
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let event;
    try {
      event = JSON.parse(textarea.value);
    } catch (err) {
      return message(result, `The event is not valid JSON: ${err.message}`, 'error');
    }
    const body = { files: uploadFiles(st.files), [Array.isArray(event) ? 'events' : 'event']: event };
    if (settingsFrom.value) body.instance = settingsFrom.value;
    else {
      const { values, problems } = st.settingsForTest ? st.settingsForTest() : { values: {}, problems: [] };
      if (problems.length) return message(result, `Settings: ${problems.join('; ')}`, 'error');
      body.settings = values;
    }
    run.disabled = true;
    message(result, 'Running…');
    try {
      const out = await app.client.test(body);
      replace(result, runResult(out));
      const error = (out.error && out.error.line ? out.error : null) || ((out.results || []).find((r) => r.error && r.error.line) || {}).error;
      fileTabs.showErrorLine((error && error.file) || HANDLER, (error && error.line) || null);
    } catch (err) {
      message(result, errorText(err), 'error');
    } finally {
      run.disabled = false;
    }
  });
  // Recent events that reached this function's instances (the deliveries keep them).
  Promise.all(st.instances.map((i) => app.client.deliveries(i.id, 'limit=20').catch(() => ({ deliveries: [] })))).then((lists) => {
    const seen = new Set();
    for (const d of lists.flatMap((l) => l.deliveries)) {
      if (!d.event || seen.has(d.message_id) || recentEvents.length >= 20) continue;
      seen.add(d.message_id);
      recentEvents.push(d.event);
      recent.append(h('option', { value: `recent:${recentEvents.length - 1}` }, `${d.event_type || 'event'} ${d.message_id} (${when(d.at)})`));
    }
  });
  return { el: form };
}
