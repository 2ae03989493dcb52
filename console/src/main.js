// The console: sign-in, the sidebar (functions, instances, sources) and hash routes.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { createClient } from './api.js';
import { h, replace } from './dom.js';
import { clearKey, loadKey, saveKey } from './session.js';
import { errorText, message } from './ui.js';
import { functionView, newFunctionView } from './view-function.js';
import { instanceView } from './view-instance.js';
import { sourcesView } from './view-sources.js';

const root = document.getElementById('app');
const client = createClient(window.fetch.bind(window), () => loadKey(sessionStorage));
const app = { client, data: { functions: [], instances: [], sources: [] }, refresh, go, cleanup: null };

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signIn() {
  const status = h('div');
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h(
    'form',
    { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Functions console'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { class: 'muted' }, 'The key stays in this tab (session storage) and is sent only in the Authorization header.'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    status,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    saveKey(sessionStorage, input.value);
    try {
      await client.functions();
      input.value = '';
      shell();
    } catch (err) {
      clearKey(sessionStorage);
      message(status, err.status === 401 ? 'That API key was not accepted.' : errorText(err), 'error');
    }
  });
  replace(root, h('main', { class: 'signin-page' }, form));
  input.focus();
}

const sidebar = h('nav', { class: 'sidebar', 'aria-label': 'Workspace' });
const main = h('main', { class: 'content', id: 'content', tabindex: -1 });

function shell() {
  const signOut = h('button', { type: 'button', onclick: () => { clearKey(sessionStorage); location.hash = ''; signIn(); } }, 'Sign out');
  replace(
    root,
    h('a', { class: 'skip', href: '#content', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    h('header', { class: 'top' }, h('span', { class: 'brand' }, 'Functions'), h('span', { class: 'spacer' }), signOut),
    h('div', { class: 'layout' }, sidebar, main),
  );
  refresh().then(route);
}

function link(hash, text, sub) {
  const current = location.hash === hash ? 'page' : undefined;
  return h('li', {}, h('a', { href: hash, 'aria-current': current }, h('span', {}, text), sub ? h('small', {}, sub) : null));
}

function drawSidebar() {
  const { functions, instances, sources } = app.data;
  const fnName = Object.fromEntries(functions.map((f) => [f.id, f.name]));
  replace(
    sidebar,
    h('section', {}, h('h2', {}, 'Functions'),
      h('ul', {}, functions.map((f) => link(`#/function/${f.id}`, f.name, `${f.kind} · v${f.version_count}`))),
      h('a', { class: 'button', href: '#/new' }, '+ New function')),
    h('section', {}, h('h2', {}, 'Instances'),
      instances.length
        ? h('ul', {}, instances.map((i) => link(`#/instance/${i.id}`, fnName[i.function_id] || i.function_id, `${i.id}${i.enabled ? '' : ' · disabled'}`)))
        : h('p', { class: 'muted' }, 'None deployed yet.')),
    h('section', {}, h('h2', {}, 'Sources'),
      h('ul', {}, sources.map((s) => link('#/sources', s.name, s.id))),
      h('a', { class: 'button', href: '#/sources' }, 'Manage sources')),
  );
}

async function refresh() {
  try {
    const [f, i, s] = await Promise.all([client.functions(), client.instances(), client.sources()]);
    app.data = { functions: f.functions, instances: i.instances, sources: s.sources };
  } catch (err) {
    if (err.status === 401) {
      clearKey(sessionStorage);
      signIn();
      return;
    }
    throw err;
  }
  drawSidebar();
}

function route() {
  if (!loadKey(sessionStorage)) return;
  if (app.cleanup) app.cleanup();
  app.cleanup = null;
  drawSidebar();
  const [, kind, id] = location.hash.split('/');
  let view;
  if (kind === 'function' && id) view = functionView(app, id);
  else if (kind === 'new') view = newFunctionView(app);
  else if (kind === 'instance' && id) view = instanceView(app, id);
  else if (kind === 'sources') view = sourcesView(app);
  else view = { el: h('section', { class: 'welcome' }, h('h1', {}, 'Welcome'), h('p', {}, 'Pick a function, an instance or a source on the left, or create a new function.')) };
  app.cleanup = view.cleanup || null;
  replace(main, view.el);
  if (view.mounted) view.mounted();
}

window.addEventListener('hashchange', route);
if (loadKey(sessionStorage)) shell();
else signIn();
