// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { h } from '../src/dom.js';
import { runResult } from '../src/ui.js';

describe('rendering is XSS-safe', () => {
  it('puts data in text nodes, never parsed as HTML', () => {
    const evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    const el = h('div', { title: evil }, evil, ['<b>', 1]);
    expect(el.querySelector('img, script, b')).toBeNull();
    expect(el.textContent).toBe(`${evil}<b>1`);
    expect(el.getAttribute('title')).toBe(evil);
  });

  it('refuses style, srcdoc and javascript: attributes', () => {
    expect(() => h('a', { href: 'javascript:alert(1)' })).toThrow();
    expect(() => h('div', { style: 'color:red' })).toThrow();
    expect(() => h('iframe', { srcdoc: '<p>' })).toThrow();
  });

  it('shows a run with hostile logs, results and requests as text', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const el = runResult({
      outcome: 'rejected',
      duration_ms: 1,
      result: { html: evil },
      error: { type: 'ValueError', message: evil, line: 3 },
      logs: [evil],
      requests: [{ method: 'POST', url: `https://x/${evil}`, status: 500 }],
    });
    expect(el.querySelector('img')).toBeNull();
    expect(el.textContent).toContain(evil);
    expect(el.textContent).toContain('(line 3)');
  });
});
