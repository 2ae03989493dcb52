// Settings & deploy: a form generated from function.toml's settings schema (secrets are
// write-only), a target (a new instance on a source, or an existing instance) and a version.
import { h, replace } from './dom.js';
import { collect, fields, forTest } from './settings.js';
import { errorText, message } from './ui.js';

export function settingsPane(app, st) {
  const status = h('div');
  const formFields = h('div', { class: 'settings-fields' });
  const target = h('select', { id: 'deploy-target' });
  const source = h('select', { id: 'deploy-source' });
  const version = h('select', { id: 'deploy-version' });
  let current = {}; // what the user typed, by setting name, kept across redraws
  let schema = {};

  function drawTargets() {
    replace(target, h('option', { value: '' }, 'a new instance'), st.instances.map((i) => h('option', { value: i.id }, `instance ${i.id}`)));
    replace(source, app.data.sources.map((s) => h('option', { value: s.id }, `${s.name} (${s.id})`)));
  }
  function drawVersions() {
    const sorted = [...st.versions].sort((a, b) => b.number - a.number);
    replace(version, sorted.map((v) => h('option', { value: v.id }, `version ${v.number} (${v.id})`)));
    if (!sorted.length) version.append(h('option', { value: '' }, 'save a version first'));
  }
  function stored() {
    const inst = st.instances.find((i) => i.id === target.value);
    return inst ? inst.settings : {};
  }
  function drawFields() {
    const values = { ...stored(), ...current };
    const list = fields(schema, values);
    if (!list.length) return replace(formFields, h('p', { class: 'muted' }, 'This function declares no settings.'));
    replace(formFields, list.map((f) => {
      const id = `setting-${f.name}`;
      const attrs = { id, name: f.name, 'aria-describedby': `${id}-help` };
      let input;
      if (f.input === 'checkbox') input = h('input', { ...attrs, type: 'checkbox', checked: f.checked });
      else if (f.input === 'textarea') input = h('textarea', { ...attrs, rows: 3, value: f.text });
      else input = h('input', { ...attrs, type: f.input, value: f.text, autocomplete: f.secret ? 'new-password' : 'off',
        placeholder: f.secret ? (f.stored ? '*** (stored; type to replace)' : 'write-only') : '' });
      if (f.input === 'checkbox') input.addEventListener('change', () => { current[f.name] = input.checked; });
      else input.addEventListener('input', () => { current[f.name] = input.value; });
      if (f.secret && current[f.name]) input.value = current[f.name];
      return h('div', { class: 'field' },
        h('label', { for: id }, f.name, f.required ? ' *' : '', h('small', {}, ` ${f.type}${f.secret ? ', secret' : ''}`)),
        input,
        h('small', { id: `${id}-help`, class: 'muted' }, f.description));
    }));
  }
  function entries() {
    const out = {};
    for (const el of formFields.querySelectorAll('[name]')) out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
    return out;
  }
  st.settingsForTest = () => {
    const { values, problems } = collect(schema, entries());
    return { values: forTest(values), problems };
  };

  const deploy = h('button', { type: 'submit', class: 'primary', id: 'deploy' }, 'Deploy');
  const form = h('form', { class: 'stack' },
    h('h3', {}, 'Settings'), formFields,
    h('h3', {}, 'Deploy'),
    h('label', { for: 'deploy-version' }, 'Version'), version,
    h('label', { for: 'deploy-target' }, 'To'), target,
    h('label', { for: 'deploy-source', class: 'source-label' }, 'On source'), source,
    deploy, status);
  target.addEventListener('change', () => {
    current = {};
    source.disabled = Boolean(target.value);
    drawFields();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!st.fn) return message(status, 'Create the function first (the button at the top).', 'error');
    const { values, problems } = collect(schema, entries());
    if (problems.length) return message(status, `Settings: ${problems.join('; ')}`, 'error');
    const body = { version: version.value || undefined, settings: values };
    if (target.value) body.instance = target.value;
    else if (source.value) body.source = source.value;
    else return message(status, 'Create a source first (Sources, on the left).', 'error');
    deploy.disabled = true;
    try {
      const { instance } = await app.client.deploy(st.fn.id, body);
      st.instances = [...st.instances.filter((i) => i.id !== instance.id), instance];
      current = {};
      drawTargets();
      target.value = instance.id;
      source.disabled = true;
      drawFields();
      await app.refresh();
      replace(status, h('p', { class: 'message message-ok', role: 'status' }, 'Deployed to ',
        h('a', { href: `#/instance/${instance.id}`, id: 'deployed-instance' }, instance.id), '.'));
    } catch (err) {
      message(status, errorText(err), 'error');
    } finally {
      deploy.disabled = false;
    }
  });
  drawTargets();
  drawVersions();
  drawFields();
  return {
    el: form,
    manifestChanged(manifest) {
      schema = (manifest && manifest.settings) || {};
      drawFields();
    },
    versionsChanged() {
      drawVersions();
    },
  };
}
