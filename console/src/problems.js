// Validation problems and run-time errors, placed on lines of the editor's document.

// "handler.py:3: message" (as the API's problems read) -> {file, line, message}.
export function parseProblem(text) {
  const m = /^([\w.-]+\.(?:py|toml)):(?:(\d+):)?\s*([\s\S]*)$/.exec(text);
  if (!m) return { file: null, line: 0, message: text, text };
  return { file: m[1], line: Number(m[2] || 0), message: m[3], text };
}

// Problems of one file as CodeMirror lint diagnostics. `lines` is a function giving
// {from, to} of a 1-based line (doc.line), `count` the document's number of lines.
// A problem without a line, or past the end, is shown on line 1 / the last line.
export function diagnostics(problems, file, count, lines) {
  const out = [];
  for (const p of problems) {
    if (p.file && p.file !== file) continue;
    if (!p.file && file !== 'handler.py') continue;
    const n = Math.min(Math.max(p.line || 1, 1), Math.max(count, 1));
    const { from, to } = lines(n);
    out.push({ from, to, severity: p.severity || 'error', message: p.message, source: 'sandbox' });
  }
  return out;
}

// Calls `fn` once `delay` ms after the last call; `flush` runs a pending call now.
export function debounce(fn, delay, timers = globalThis) {
  let handle = null;
  let pending = null;
  const debounced = (...args) => {
    pending = args;
    if (handle !== null) timers.clearTimeout(handle);
    handle = timers.setTimeout(() => {
      handle = null;
      const a = pending;
      pending = null;
      fn(...a);
    }, delay);
  };
  debounced.cancel = () => {
    if (handle !== null) timers.clearTimeout(handle);
    handle = null;
    pending = null;
  };
  return debounced;
}

// Only the newest answer of overlapping requests is used (validation while typing).
export function latest() {
  let counter = 0;
  return async (promise) => {
    const mine = ++counter;
    const value = await promise;
    return { value, stale: mine !== counter };
  };
}
