import { describe, expect, it, vi } from 'vitest';
import { ApiError, createClient } from '../src/api.js';
import { debounce, diagnostics, latest, parseProblem } from '../src/problems.js';
import { MASK, collect, fields, forTest } from '../src/settings.js';
import { deliveriesQuery, percentile, perMinute } from '../src/stats.js';
import { SAMPLES } from '../src/samples.js';
import { TEMPLATES, freshName, withName } from '../src/templates.js';
import { clearKey, loadKey, saveKey } from '../src/session.js';

function fakeFetch(status, body) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init });
    return { ok: status < 400, status, json: async () => body };
  };
  return { fn, calls };
}

describe('api client', () => {
  it('sends the key in the Authorization header, never a cookie or the URL', async () => {
    const f = fakeFetch(200, { ok: true });
    const api = createClient(f.fn, () => 'fk_secret');
    await api.validate({ 'handler.py': 'x' });
    const { url, init } = f.calls[0];
    expect(url).toBe('/v1/validate');
    expect(url).not.toContain('fk_secret');
    expect(init.headers.Authorization).toBe('Bearer fk_secret');
    expect(init.credentials).toBe('omit');
    expect(JSON.parse(init.body)).toEqual({ files: { 'handler.py': 'x' } });
  });

  it('turns an error body into an ApiError with its problems', async () => {
    const f = fakeFetch(422, { error: { code: 'validation_failed', message: 'bad', problems: ['handler.py:2: x'] } });
    const api = createClient(f.fn, () => 'k');
    const err = await api.functions().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect([err.status, err.code, err.message, err.problems]).toEqual([422, 'validation_failed', 'bad', ['handler.py:2: x']]);
  });

  it('escapes ids in paths', async () => {
    const f = fakeFetch(200, {});
    await createClient(f.fn, () => 'k').instance('../x?y');
    expect(f.calls[0].url).toBe('/v1/instances/..%2Fx%3Fy');
  });
});

describe('session', () => {
  it('keeps the key in the given storage only', () => {
    const store = new Map();
    const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
    saveKey(storage, '  fk_abc \n');
    expect(loadKey(storage)).toBe('fk_abc');
    clearKey(storage);
    expect(loadKey(storage)).toBeNull();
  });
});

describe('problems', () => {
  it('parses file, line and message', () => {
    expect(parseProblem('handler.py:3: name "os" is not allowed')).toMatchObject({ file: 'handler.py', line: 3, message: 'name "os" is not allowed' });
    expect(parseProblem('function.toml: kind: bad')).toMatchObject({ file: 'function.toml', line: 0 });
    expect(parseProblem('something else')).toMatchObject({ file: null, line: 0, message: 'something else' });
  });

  it('places problems on their lines of the right file, clamped to the document', () => {
    const lines = (n) => ({ from: (n - 1) * 10, to: (n - 1) * 10 + 9 });
    const problems = [
      { file: 'handler.py', line: 2, message: 'a' },
      { file: 'function.toml', line: 1, message: 'b' },
      { file: 'handler.py', line: 99, message: 'c' },
      { file: 'handler.py', line: 0, message: 'd' },
    ];
    const out = diagnostics(problems, 'handler.py', 5, lines);
    expect(out.map((d) => [d.from, d.message])).toEqual([[10, 'a'], [40, 'c'], [0, 'd']]);
    expect(diagnostics(problems, 'function.toml', 3, lines).map((d) => d.message)).toEqual(['b']);
  });

  it('debounces to the last call', () => {
    vi.useFakeTimers();
    const seen = [];
    const d = debounce((x) => seen.push(x), 300);
    d(1);
    d(2);
    vi.advanceTimersByTime(299);
    expect(seen).toEqual([]);
    d(3);
    vi.advanceTimersByTime(300);
    expect(seen).toEqual([3]);
    d(4);
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(seen).toEqual([3]);
    vi.useRealTimers();
  });

  it('marks all but the newest of overlapping answers stale', async () => {
    const guard = latest();
    let release;
    const slow = guard(new Promise((r) => { release = r; }));
    const fast = await guard(Promise.resolve('new'));
    release('old');
    expect(fast).toEqual({ value: 'new', stale: false });
    expect(await slow).toEqual({ value: 'old', stale: true });
  });
});

describe('settings form', () => {
  const schema = {
    url: { type: 'string', required: true, description: 'where' },
    api_key: { type: 'string', required: true, secret: true },
    retries: { type: 'number', default: 3 },
    tags: { type: 'array' },
    on: { type: 'boolean', default: true },
  };

  it('never shows a secret, only that one is stored', () => {
    const list = fields(schema, { url: 'https://x', api_key: MASK });
    const key = list.find((f) => f.name === 'api_key');
    expect(key).toMatchObject({ text: '', input: 'password', stored: true, secret: true });
    expect(list.find((f) => f.name === 'retries').text).toBe('3');
    expect(list.find((f) => f.name === 'on').checked).toBe(true);
  });

  it('collects typed values; an empty secret is sent masked (kept)', () => {
    const { values, problems } = collect(schema, { url: 'https://x', api_key: '', retries: '5', tags: '["a"]', on: false });
    expect(problems).toEqual([]);
    expect(values).toEqual({ url: 'https://x', api_key: MASK, retries: 5, tags: ['a'], on: false });
    expect(forTest(values)).not.toHaveProperty('api_key');
  });

  it('names fields with bad values', () => {
    const { problems } = collect(schema, { url: '', retries: 'x', tags: '{"a":1}' });
    expect(problems).toEqual(['url: required', 'retries: a number is expected', 'tags: a JSON array is expected']);
  });
});

describe('stats', () => {
  it('takes nearest-rank percentiles', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
  });

  it('counts outcomes and durations per minute, up to now', () => {
    const now = Date.parse('2025-01-01T10:03:30Z');
    const list = [
      { at: '2025-01-01T10:01:10Z', outcome: 'delivered', duration_ms: 10 },
      { at: '2025-01-01T10:01:50Z', outcome: 'delivered', duration_ms: 30 },
      { at: '2025-01-01T10:03:00Z', outcome: 'retry', duration_ms: 100 },
      { at: '2025-01-01T10:03:01Z', outcome: 'failed', duration_ms: 0 },
    ];
    const s = perMinute(list, now, 60, 3);
    expect(s.x.map((t) => new Date(t * 1000).toISOString().slice(11, 16))).toEqual(['10:01', '10:02', '10:03']);
    expect(s.counts.delivered).toEqual([2, 0, 0]);
    expect(s.counts.retry).toEqual([0, 0, 1]);
    expect(s.counts.failed).toEqual([0, 0, 1]);
    expect(s.p50).toEqual([10, null, 100]);
    expect(s.p95).toEqual([30, null, 100]);
    const padded = perMinute(list, now);
    expect(padded.x).toHaveLength(15);
    expect(padded.counts.delivered.slice(-3)).toEqual([2, 0, 0]);
  });

  it('bounds the window and builds the route query', () => {
    const now = Date.parse('2025-01-01T10:00:00Z');
    expect(perMinute([{ at: '2024-12-01T00:00:00Z', outcome: 'delivered', duration_ms: 1 }], now, 15).x).toHaveLength(15);
    expect(deliveriesQuery({ outcome: 'failed', window: '15m', limit: 50 }, now)).toBe('outcome=failed&since=2025-01-01T09%3A45%3A00.000Z&limit=50');
    expect(deliveriesQuery({}, now)).toBe('limit=200');
  });
});

describe('templates and samples', () => {
  it('bundles a sample event of every type', () => {
    const types = new Set(SAMPLES.map((s) => s.event && s.event.type).filter(Boolean));
    for (const t of ['track', 'identify', 'page', 'screen', 'group', 'alias', 'delete']) expect(types).toContain(t);
  });

  it('names a new function uniquely and writes the name into function.toml', () => {
    expect(freshName('webhook', ['webhook', 'webhook-2'])).toBe('webhook-3');
    expect(withName(TEMPLATES[0].files['function.toml'], 'mine')).toMatch(/^name = "mine"$/m);
    expect(withName('kind = "destination"\n', 'x')).toBe('name = "x"\nkind = "destination"\n');
  });
});
