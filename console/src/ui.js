// Small shared widgets: tabs, outcome badges, a run's result (error, logs, requests).
import { h, json, replace } from './dom.js';

export function badge(outcome) {
  return h('span', { class: `badge badge-${String(outcome).replace(/[^a-z]/g, '')}` }, outcome);
}

// Tabs as buttons (role=tab); arrow keys move between them. Returns {el, select}.
export function tabs(items, onSelect, label) {
  const buttons = [];
  const panels = [];
  const list = h('div', { class: 'tabs', role: 'tablist', 'aria-label': label });
  const select = (i, focus = false) => {
    buttons.forEach((b, j) => {
      b.setAttribute('aria-selected', String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      panels[j].hidden = i !== j;
    });
    if (focus) buttons[i].focus();
    if (onSelect) onSelect(items[i].id);
  };
  items.forEach((item, i) => {
    const id = `tab-${label.replace(/\W/g, '')}-${item.id}`;
    const b = h('button', { type: 'button', role: 'tab', id, 'aria-controls': `${id}-panel`, onclick: () => select(i) }, item.title);
    b.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight') select((i + 1) % items.length, true);
      if (e.key === 'ArrowLeft') select((i + items.length - 1) % items.length, true);
    });
    buttons.push(b);
    panels.push(h('div', { role: 'tabpanel', id: `${id}-panel`, 'aria-labelledby': id, class: 'tabpanel' }, item.panel));
    list.append(b);
  });
  select(0);
  return { el: h('div', { class: 'tabset' }, list, panels), select };
}

export function pre(value, cls = 'code') {
  return h('pre', { class: cls, tabindex: 0 }, typeof value === 'string' ? value : json(value));
}

export function requestsList(requests) {
  if (!requests || !requests.length) return h('p', { class: 'muted' }, 'No requests.');
  return h(
    'ol',
    { class: 'requests' },
    requests.map((r) =>
      h(
        'li',
        {},
        h(
          'details',
          {},
          h('summary', {}, `${r.method || ''} ${r.url || ''} → ${r.status ?? r.error ?? ''} (${r.duration_ms ?? '?'} ms)`),
          pre(r),
        ),
      ),
    ),
  );
}

export function logsList(logs) {
  if (!logs || !logs.length) return h('p', { class: 'muted' }, 'No logs.');
  return pre(logs.join('\n'), 'code logs');
}

export function errorBlock(error) {
  if (!error) return null;
  return h(
    'div',
    { class: 'error-block', role: 'alert' },
    h('strong', {}, error.type || 'Error'),
    error.line ? ` (line ${error.line})` : '',
    ': ',
    error.message || '',
  );
}

// A run's outcome (functions invoke JSON; a batch has `results`).
export function runResult(result) {
  const runs = result.results || [result];
  return h(
    'div',
    { class: 'run-result' },
    h('p', { class: 'outcome-line' }, 'Outcome ', badge(result.outcome), ` in ${result.duration_ms} ms`),
    runs.map((r, i) =>
      h(
        'section',
        { class: 'run' },
        runs.length > 1 ? h('h4', {}, `Event ${i + 1}: `, badge(r.outcome)) : null,
        errorBlock(r.error),
        h('h4', {}, 'Result'),
        pre(r.result === undefined ? null : r.result),
        h('h4', {}, 'Logs'),
        logsList(r.logs),
        h('h4', {}, 'Requests'),
        requestsList(r.requests),
      ),
    ),
  );
}

export function message(el, text, kind = 'info') {
  replace(el, text ? h('p', { class: `message message-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text) : '');
}

export function errorText(e) {
  const problems = e && e.problems && e.problems.length ? `: ${e.problems.join('; ')}` : '';
  return `${(e && e.message) || e}${problems}`;
}
