// An instance: its deliveries, live (filters by outcome and time, a detail drawer), a
// chart of outcomes per minute and p50 / p95 duration (uPlot), and replay of dead letters
// through a chosen version.
import uPlot from 'uplot';
import { h, json, replace, when } from './dom.js';
import { OUTCOMES, WINDOWS, deliveriesQuery, perMinute } from './stats.js';
import { badge, errorBlock, errorText, logsList, message, pre, requestsList } from './ui.js';

const COLORS = { delivered: '#1a7f37', filtered: '#6e7781', rejected: '#9a6700', retry: '#bc4c00', failed: '#cf222e' };
const POLL_MS = 2000;

export function instanceView(app, id) {
  const el = h('section', { class: 'instance-view' }, h('p', { class: 'muted' }, 'Loading…'));
  const view = { el, cleanup: null };
  let timer = null;
  let plots = [];
  let stopped = false;
  view.cleanup = () => {
    stopped = true;
    clearTimeout(timer);
    for (const p of plots) p.destroy();
  };

  (async () => {
    const { instance } = await app.client.instance(id);
    const { function: fn } = await app.client.func(instance.function_id);
    const { versions } = await app.client.versions(fn.id);
    const source = app.data.sources.find((s) => s.id === instance.source_id);
    const deployed = versions.find((v) => v.id === instance.version_id);

    const outcome = h('select', { id: 'filter-outcome' }, h('option', { value: '' }, 'all outcomes'), OUTCOMES.map((o) => h('option', { value: o }, o)));
    const windowSel = h('select', { id: 'filter-window' }, Object.keys(WINDOWS).map((w) => h('option', { value: w, selected: w === '1h' }, w === 'all' ? 'any time' : `last ${w}`)));
    const live = h('input', { type: 'checkbox', id: 'live', checked: true });
    const updated = h('span', { class: 'muted', role: 'status' });
    const tbody = h('tbody');
    const chartBox = h('div', { class: 'charts', 'aria-label': 'Outcomes per minute and p50 / p95 duration' });
    const counts = h('p', { class: 'counts', 'aria-live': 'polite' });
    const drawer = h('aside', { class: 'drawer', hidden: true, 'aria-label': 'Delivery details', tabindex: -1 });
    const enabled = h('input', { type: 'checkbox', id: 'enabled', checked: instance.enabled });
    enabled.addEventListener('change', async () => {
      try {
        await app.client.patchInstance(id, { enabled: enabled.checked });
        app.refresh();
      } catch (err) {
        enabled.checked = !enabled.checked;
        alert(errorText(err));
      }
    });

    // Replay
    const replayStatus = h('div');
    const replayVersion = h('select', { id: 'replay-version' },
      [...versions].sort((a, b) => b.number - a.number).map((v) => h('option', { value: v.id }, `version ${v.number}${v.id === instance.version_id ? ' (deployed)' : ''}`)));
    const includes = ['failed', 'rejected', 'filtered'].map((o) =>
      h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'include', value: o, checked: o === 'failed' }), o));
    const replayForm = h('form', { class: 'inline-form', id: 'replay-form' },
      h('label', { for: 'replay-version' }, 'Replay through'), replayVersion,
      h('fieldset', { class: 'inline' }, h('legend', {}, 'Include'), includes),
      h('button', { type: 'submit', class: 'primary', id: 'replay' }, 'Replay'), replayStatus);
    replayForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const include = [...replayForm.querySelectorAll('input[name=include]:checked')].map((i) => i.value);
      try {
        const out = await app.client.replay(id, { version: replayVersion.value, include });
        message(replayStatus, `Queued ${out.queued} event(s) again (replay ${out.replay_id}).`, 'ok');
        poll(true);
      } catch (err) {
        message(replayStatus, errorText(err), 'error');
      }
    });

    function openDrawer(d, row) {
      replace(drawer,
        h('header', { class: 'view-head' }, h('h2', {}, 'Delivery'), h('span', { class: 'spacer' }),
          h('button', { type: 'button', id: 'close-drawer', onclick: () => closeDrawer(row) }, 'Close')),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Outcome'), h('dd', {}, badge(d.outcome)),
          h('dt', {}, 'Message'), h('dd', {}, h('code', {}, d.message_id)),
          h('dt', {}, 'Attempt'), h('dd', {}, String(d.attempt)),
          h('dt', {}, 'Version'), h('dd', {}, h('code', {}, d.version_id || '')),
          h('dt', {}, 'At'), h('dd', {}, when(d.at)),
          h('dt', {}, 'Duration'), h('dd', {}, `${d.duration_ms} ms`)),
        errorBlock(d.error),
        h('h3', {}, 'Logs'), logsList(d.logs),
        h('h3', {}, 'Requests'), requestsList(d.requests),
        h('h3', {}, 'Event'), pre(d.event === null ? 'not kept (too large)' : json(d.event)));
      drawer.hidden = false;
      drawer.focus();
    }
    function closeDrawer(row) {
      drawer.hidden = true;
      if (row && row.isConnected) row.focus();
    }
    drawer.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(); });

    function drawRows(list) {
      replace(tbody, list.map((d) => {
        const row = h('tr', { tabindex: 0, class: 'clickable', dataset: { outcome: d.outcome, message: d.message_id } },
          h('td', {}, when(d.at)), h('td', {}, badge(d.outcome)), h('td', {}, String(d.attempt)),
          h('td', {}, d.event_type || ''), h('td', {}, h('code', {}, d.message_id)), h('td', { class: 'num' }, `${Math.round(d.duration_ms * 10) / 10} ms`),
          h('td', {}, d.error ? `${d.error.type || ''}: ${d.error.message || ''}` : ''));
        row.addEventListener('click', () => openDrawer(d, row));
        row.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openDrawer(d, row); } });
        return row;
      }));
      if (!list.length) tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No deliveries match.')));
    }

    function drawChart(list) {
      for (const p of plots) p.destroy();
      plots = [];
      replace(chartBox);
      const s = perMinute(list, Date.now(), windowSel.value === '15m' ? 15 : 60);
      const width = Math.max(280, Math.min(chartBox.clientWidth || 600, 900) / (chartBox.clientWidth > 700 ? 2 : 1) - 16);
      const bars = uPlot.paths.bars({ size: [0.7, 24] });
      const countsEl = h('div', { class: 'chart' });
      const durEl = h('div', { class: 'chart' });
      chartBox.append(countsEl, durEl);
      plots.push(new uPlot({
        title: 'Outcomes per minute', width, height: 180,
        scales: { x: { time: true } },
        series: [{}, ...OUTCOMES.map((o) => ({ label: o, stroke: COLORS[o], fill: `${COLORS[o]}55`, paths: bars, points: { show: false } }))],
        axes: [{}, { label: 'events' }],
      }, [s.x, ...OUTCOMES.map((o) => s.counts[o])], countsEl));
      plots.push(new uPlot({
        title: 'Duration (ms)', width, height: 180,
        scales: { x: { time: true } },
        series: [{}, { label: 'p50', stroke: '#0969da', spanGaps: true, points: { size: 6 } }, { label: 'p95', stroke: '#8250df', spanGaps: true, points: { size: 6 } }],
        axes: [{}, { label: 'ms' }],
      }, [s.x, s.p50, s.p95], durEl));
    }

    let lastKey = '';
    async function poll(force = false) {
      clearTimeout(timer);
      if (stopped) return;
      try {
        const query = deliveriesQuery({ outcome: outcome.value, window: windowSel.value, limit: 500 });
        const { deliveries } = await app.client.deliveries(id, query);
        const key = JSON.stringify(deliveries.map((d) => [d.id, d.outcome]));
        if (force || key !== lastKey) {
          lastKey = key;
          drawRows(deliveries);
          drawChart(deliveries);
          const tally = {};
          for (const d of deliveries) tally[d.outcome] = (tally[d.outcome] || 0) + 1;
          counts.replaceChildren(...OUTCOMES.filter((o) => tally[o]).flatMap((o) => [badge(o), ` ${tally[o]}  `]));
        }
        updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      } catch (err) {
        updated.textContent = `Could not load deliveries: ${errorText(err)}`;
      }
      if (live.checked && !stopped) timer = setTimeout(poll, POLL_MS);
    }
    outcome.addEventListener('change', () => poll(true));
    windowSel.addEventListener('change', () => poll(true));
    live.addEventListener('change', () => poll(true));

    replace(el,
      h('header', { class: 'view-head' },
        h('h1', {}, 'Instance ', h('code', {}, id)), h('span', { class: 'spacer' }),
        h('label', { class: 'choice' }, enabled, 'enabled')),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Function'), h('dd', {}, h('a', { href: `#/function/${fn.id}` }, fn.name)),
        h('dt', {}, 'Version'), h('dd', {}, deployed ? `v${deployed.number} ` : '', h('code', {}, instance.version_id)),
        h('dt', {}, 'Source'), h('dd', {}, source ? `${source.name} ` : '', h('code', {}, instance.source_id || 'none'))),
      h('h2', {}, 'Deliveries'),
      h('div', { class: 'filters' },
        h('label', { for: 'filter-outcome' }, 'Outcome'), outcome,
        h('label', { for: 'filter-window' }, 'Time'), windowSel,
        h('label', { class: 'choice' }, live, 'live'), updated),
      counts,
      chartBox,
      h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'deliveries' },
        h('thead', {}, h('tr', {}, ['At', 'Outcome', 'Attempt', 'Type', 'Message id', 'Duration', 'Error'].map((t) => h('th', { scope: 'col' }, t)))),
        tbody)),
      h('h2', {}, 'Replay'),
      h('p', { class: 'muted' }, 'Dead letters (failed), and optionally rejected or filtered events, are sent again through the version you pick.'),
      replayForm,
      drawer);
    poll(true);
  })().catch((err) => replace(el, h('p', { class: 'message message-error', role: 'alert' }, errorText(err))));
  return view;
}
