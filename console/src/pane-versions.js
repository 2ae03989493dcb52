// Versions: who uploaded each and when, where it is deployed, a side-by-side diff of any
// two (CodeMirror's merge view), open one in the editor, deploy one to an instance
// (roll back), and the audit trail of this function.
import { h, replace, when } from './dom.js';
import { createMerge } from './editor.js';
import { errorText, message } from './ui.js';
import { orderFiles, versionFiles } from './files.js';

export function versionsPane(app, st, openFiles) {
  const status = h('div');
  const table = h('div');
  const diff = h('div', { class: 'diff' });
  const audit = h('div');
  let merges = [];
  const picked = new Set();

  async function files(id) {
    return versionFiles(await app.client.version(id));
  }
  function drawTable() {
    const sorted = [...st.versions].sort((a, b) => b.number - a.number);
    if (!sorted.length) return replace(table, h('p', { class: 'muted' }, 'No versions yet: save one.'));
    replace(table, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Diff'), h('th', {}, '#'), h('th', {}, 'Uploaded'), h('th', {}, 'By'), h('th', {}, 'Deployed on'), h('th', {}, 'Actions'))),
      h('tbody', {}, sorted.map((v) => {
        const box = h('input', { type: 'checkbox', 'aria-label': `compare version ${v.number}`, checked: picked.has(v.id),
          onchange: () => { if (box.checked) picked.add(v.id); else picked.delete(v.id); } });
        const on = st.instances.filter((i) => i.version_id === v.id);
        const to = h('select', { 'aria-label': `instance to deploy version ${v.number} to` }, st.instances.map((i) => h('option', { value: i.id }, i.id)));
        return h('tr', { dataset: { version: v.id } },
          h('td', {}, box), h('td', {}, `v${v.number}`), h('td', {}, when(v.created_at)), h('td', {}, h('code', {}, v.author)),
          h('td', {}, on.map((i) => h('a', { class: 'chip', href: `#/instance/${i.id}` }, i.id))),
          h('td', { class: 'actions' },
            h('button', { type: 'button', onclick: async () => openFiles(await files(v.id)) }, 'Open'),
            st.instances.length ? [to, h('button', { type: 'button', onclick: () => rollback(to.value, v) }, 'Deploy here')] : null));
      }))));
  }
  async function rollback(instanceId, v) {
    try {
      const { instance } = await app.client.rollback(instanceId, v.id);
      st.instances = st.instances.map((i) => (i.id === instance.id ? instance : i));
      message(status, `Instance ${instance.id} now runs version ${v.number}.`, 'ok');
      drawTable();
      drawAudit();
    } catch (err) {
      message(status, errorText(err), 'error');
    }
  }
  async function compare() {
    const ids = [...picked];
    if (ids.length !== 2) return message(status, 'Tick exactly two versions to compare.', 'error');
    const [a, b] = ids.map((id) => st.versions.find((v) => v.id === id)).sort((x, y) => x.number - y.number);
    const [fa, fb] = await Promise.all([files(a.id), files(b.id)]);
    for (const m of merges) m.destroy();
    merges = [];
    message(status, '');
    replace(diff, h('h3', {}, `v${a.number} → v${b.number}`));
    const names = orderFiles([...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((n) => n !== 'handler.py' && n !== 'function.toml'));
    for (const file of names) {
      const holder = h('div', { class: 'merge', 'aria-label': `${file} v${a.number} and v${b.number}` });
      const note = !(file in fa) ? ` (added in v${b.number})` : !(file in fb) ? ` (deleted in v${b.number})` : '';
      diff.append(h('h4', {}, file, note), holder);
      merges.push(createMerge(holder, fa[file] ?? '', fb[file] ?? ''));
    }
  }
  async function drawAudit() {
    if (!st.fn) return;
    const related = new Set([st.fn.id, ...st.versions.map((v) => v.id), ...st.instances.map((i) => i.id)]);
    try {
      const { entries } = await app.client.audit(500);
      const mine = entries.filter((e) => related.has(e.target)).slice(0, 30);
      replace(audit, h('table', { class: 'table compact' },
        h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Who'), h('th', {}, 'What'), h('th', {}, 'On'), h('th', {}, 'Details'))),
        h('tbody', {}, mine.map((e) => h('tr', {}, h('td', {}, when(e.at)), h('td', {}, h('code', {}, e.actor)), h('td', {}, e.action), h('td', {}, h('code', {}, e.target)), h('td', {}, JSON.stringify(e.details)))))));
    } catch (err) {
      message(audit, errorText(err), 'error');
    }
  }
  drawTable();
  drawAudit();
  return {
    el: h('div', { class: 'stack' },
      table,
      h('button', { type: 'button', id: 'compare', onclick: compare }, 'Compare ticked versions'),
      status, diff, h('h3', {}, 'Audit'), audit),
    refresh() { drawTable(); drawAudit(); },
    destroy() { for (const m of merges) m.destroy(); },
  };
}
