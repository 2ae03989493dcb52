// Sources: the list, and a form that creates one and shows its write key once.
import { h, when } from './dom.js';
import { errorText, message } from './ui.js';

export function sourcesView(app) {
  const status = h('div');
  const name = h('input', { id: 'source-name', required: true, pattern: '[A-Za-z0-9_.\\-]+', placeholder: 'web' });
  const form = h('form', { class: 'inline-form' }, h('label', { for: 'source-name' }, 'New source name'), name, h('button', { type: 'submit', class: 'primary' }, 'Create source'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const made = await app.client.createSource(name.value);
      name.value = '';
      await app.refresh();
      drawList();
      message(status, '');
      status.append(h('div', { class: 'card write-key', role: 'status' },
        h('p', {}, `Source ${made.source.name} (${made.source.id}) created. Its write key is shown once:`),
        h('code', { id: 'write-key' }, made.write_key)));
    } catch (err) {
      message(status, errorText(err), 'error');
    }
  });
  const list = h('div');
  function drawList() {
    const byFn = Object.fromEntries(app.data.functions.map((f) => [f.id, f.name]));
    list.replaceChildren(h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Id'), h('th', {}, 'Created'), h('th', {}, 'Instances'))),
      h('tbody', {}, app.data.sources.map((s) => h('tr', {},
        h('td', {}, s.name), h('td', {}, h('code', {}, s.id)), h('td', {}, when(s.created_at)),
        h('td', {}, app.data.instances.filter((i) => i.source_id === s.id).map((i) => h('a', { href: `#/instance/${i.id}`, class: 'chip' }, byFn[i.function_id] || i.id))))))));
  }
  drawList();
  return { el: h('section', {}, h('h1', {}, 'Sources'), form, status, list) };
}
