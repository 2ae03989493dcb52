import { describe, expect, it } from 'vitest';
import { deletable, fileNameProblem, orderFiles, problemFile, problemsPerFile, uploadFiles, versionFiles } from '../src/files.js';
import { diagnostics } from '../src/problems.js';

describe('a new file name', () => {
  it('accepts relative paths of identifiers ending in .py', () => {
    for (const name of ['helpers.py', 'lib/util.py', 'lib/__init__.py', 'a/b_2/c.py']) {
      expect(fileNameProblem(name, ['handler.py', 'function.toml'])).toBeNull();
    }
  });
  it('refuses what the server would refuse', () => {
    for (const name of ['', '/abs.py', '../up.py', 'lib/../x.py', 'x.txt', 'helpers', 'lib\\x.py', '2x.py',
      'my-mod.py', 'class.py', 'lib/import.py', '_private.py', '__init__.py', 'a//b.py', 'handler.py', 'handler/x.py', '.py']) {
      expect(fileNameProblem(name, ['handler.py', 'function.toml']), name).not.toBeNull();
    }
  });
  it('refuses a file that exists', () => {
    expect(fileNameProblem('helpers.py', ['handler.py', 'helpers.py'])).toMatch(/already exists/);
  });
});

describe('the file list', () => {
  it('puts handler.py and function.toml first, then the rest by path', () => {
    expect(orderFiles(['z.py', 'function.toml', 'a/b.py', 'handler.py', 'm.py'])).toEqual(['handler.py', 'function.toml', 'a/b.py', 'm.py', 'z.py']);
    expect(orderFiles([])).toEqual(['handler.py', 'function.toml']);
  });
  it('never deletes handler.py or function.toml', () => {
    expect(deletable('handler.py')).toBe(false);
    expect(deletable('function.toml')).toBe(false);
    expect(deletable('helpers.py')).toBe(true);
  });
  it('uploads every .py file and a non-blank function.toml', () => {
    expect(uploadFiles({ 'handler.py': 'a', 'helpers.py': 'b', 'lib/x.py': 'c', 'function.toml': '  \n' })).toEqual({ 'handler.py': 'a', 'helpers.py': 'b', 'lib/x.py': 'c' });
    expect(uploadFiles({ 'function.toml': 'name = "x"' })).toEqual({ 'handler.py': '', 'function.toml': 'name = "x"' });
  });
  it("reads a version's files, old or new shape", () => {
    expect(versionFiles({ code: 'c', manifest: null })).toEqual({ 'handler.py': 'c', 'function.toml': '' });
    expect(versionFiles({ code: 'c', manifest: 'm', files: { 'handler.py': 'c', 'helpers.py': 'h', 'function.toml': 'm' } }))
      .toEqual({ 'handler.py': 'c', 'helpers.py': 'h', 'function.toml': 'm' });
  });
});

describe('problems per file', () => {
  const problems = [
    { file: 'helpers.py', line: 3, message: 'bad' },
    { file: 'helpers.py', line: 1, message: 'worse' },
    { file: 'handler.py', line: 2, message: 'x' },
    { line: 0, message: 'no file' },
  ];
  it('counts each file, a problem without a file on handler.py', () => {
    expect(problemFile({})).toBe('handler.py');
    expect(problemsPerFile(problems)).toEqual({ 'helpers.py': 2, 'handler.py': 2 });
    expect(problemsPerFile(undefined)).toEqual({});
  });
  it("places a helper's problems in that file's editor only, on their lines", () => {
    const lines = (n) => ({ from: n * 10, to: n * 10 + 5 });
    const inHelpers = diagnostics(problems, 'helpers.py', 5, lines);
    expect(inHelpers.map((d) => [d.from, d.message])).toEqual([[30, 'bad'], [10, 'worse']]);
    expect(diagnostics(problems, 'handler.py', 5, lines).map((d) => d.message)).toEqual(['x', 'no file']);
    expect(diagnostics(problems, 'other.py', 5, lines)).toEqual([]);
  });
});
