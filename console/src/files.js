// A function's files: which names a new file may take, their order in the editor, what
// an upload sends, and the validation problems of each file. Pure logic (no DOM).

export const HANDLER = 'handler.py';
export const MANIFEST = 'function.toml';

// Python's keywords: a module path may not use them (sandbox/folder.py module_name).
const KEYWORDS = new Set(('False None True and as assert async await break class continue def del elif else '
  + 'except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield').split(' '));
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]*$/;

// Why `name` cannot be a new file of the function (null when it can): a relative path
// of identifiers ending in .py (lib/util.py, lib/__init__.py), as the server accepts.
export function fileNameProblem(name, existing = []) {
  if (!name) return 'Give the file a name, e.g. helpers.py.';
  if (name.startsWith('/')) return 'The name must be a relative path (no leading /).';
  if (name.includes('\\')) return 'Use / between folders, not \\.';
  if (name.split('/').includes('..')) return 'The name may not contain "..".';
  if (!name.endsWith('.py')) return 'The name must end in .py.';
  const parts = name.slice(0, -'.py'.length).split('/');
  const last = parts.length - 1;
  for (const [i, part] of parts.entries()) {
    if (i === last && part === '__init__' && i > 0) continue;
    if (!IDENTIFIER.test(part) || KEYWORDS.has(part)) {
      return `"${part}" is not a module name: use letters, digits and _ (not first), no Python keyword.`;
    }
  }
  if (name === HANDLER || existing.includes(name)) return `${name} already exists.`;
  if (parts[0] === 'handler' || parts[0] === 'functions_sdk') return `"${parts[0]}" is a module name the sandbox reserves.`;
  return null;
}

// handler.py first, function.toml second, then the other files by path.
export function orderFiles(names) {
  const rest = names.filter((n) => n !== HANDLER && n !== MANIFEST).sort();
  return [HANDLER, MANIFEST, ...rest];
}

export function deletable(name) {
  return name !== HANDLER && name !== MANIFEST;
}

// What an upload, a validation and a test send: handler.py, every other .py file, and
// function.toml when it is not blank.
export function uploadFiles(files) {
  const out = { [HANDLER]: files[HANDLER] ?? '' };
  for (const [name, text] of Object.entries(files)) {
    if (name.endsWith('.py') && name !== HANDLER) out[name] = text;
  }
  if (files[MANIFEST] && files[MANIFEST].trim()) out[MANIFEST] = files[MANIFEST];
  return out;
}

// The files of a version as the API gives them (GET /v1/versions/{id}: `files`, or the
// older `code` and `manifest`), with function.toml always present (maybe empty).
export function versionFiles(v) {
  const files = v.files && typeof v.files === 'object' ? { ...v.files } : {};
  if (files[HANDLER] === undefined) files[HANDLER] = v.code ?? '';
  if (files[MANIFEST] === undefined) files[MANIFEST] = v.manifest ?? '';
  return files;
}

// The file a problem belongs to: its `file`, or handler.py when it names none.
export function problemFile(p) {
  return (p && p.file) || HANDLER;
}

// Number of problems per file ({file: count}), for the file list's badges.
export function problemsPerFile(problems) {
  const counts = {};
  for (const p of problems || []) {
    const f = problemFile(p);
    counts[f] = (counts[f] || 0) + 1;
  }
  return counts;
}
