import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { longFunctions, measure, MAX_FILE_LINES, MAX_FUNCTION_LINES } from './source-shape.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('source shape (issue #20)', () => {
  const { longFiles, longFunctions: fns } = measure(root);

  test(`no source file in apps/*/src or libs/*/src is over ${MAX_FILE_LINES} lines`, () => {
    expect(longFiles).toEqual([]);
  });

  test(`no function there is over ${MAX_FUNCTION_LINES} lines`, () => {
    expect(fns.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`)).toEqual([]);
  });

  test('the measure sees every kind of function, nested ones too', () => {
    const body = (n: number): string => Array.from({ length: n }, (_, k) => `  x${k}();`).join('\n');
    const text = [
      `function declared() {\n${body(5)}\n}`,
      `const arrow = () => {\n${body(5)}\n};`,
      `class C {\n  method() {\n${body(5)}\n  }\n  get prop() {\n${body(5)}\n    return 1;\n  }\n}`,
      `export function outer() {\n  const inner = function () {\n${body(5)}\n  };\n}`,
    ].join('\n');
    const names = longFunctions('x.ts', text, 4).map((f) => f.name);
    expect(names).toEqual(['declared', 'arrow', 'method', 'prop', 'outer', 'inner']);
    expect(longFunctions('x.ts', text, 8).map((f) => f.name)).toEqual(['outer']);
  });
});
