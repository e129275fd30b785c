/**
 * The shape limits of the source (issue #20): files and functions short enough to hold in one's
 * head. Measured with the TypeScript compiler's own parser, so a function is what the language
 * says it is (declarations, methods, accessors, constructors, arrows and function expressions),
 * and its length is the lines from its first to its last token. Tests are not measured.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Most lines in one source file. */
export const MAX_FILE_LINES = 600;
/** Most lines in one function, nested functions included in their parent's count. */
export const MAX_FUNCTION_LINES = 150;

export interface LongFunction {
  readonly file: string;
  readonly name: string;
  readonly line: number;
  readonly lines: number;
}

/** Every `.ts` file under the apps' and libs' `src` folders of `root`, relative to it. */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  for (const group of ['apps', 'libs']) {
    for (const pkg of readdirSync(path.join(root, group))) {
      const src = path.join(root, group, pkg, 'src');
      let entries: string[];
      try {
        entries = readdirSync(src, { recursive: true }) as string[];
      } catch {
        continue; // a package without sources
      }
      for (const e of entries) if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(path.join(group, pkg, 'src', e));
    }
  }
  return out.sort();
}

export function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

/** The functions of one file longer than `max` lines. */
export function longFunctions(file: string, text: string, max: number): LongFunction[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) found.push({ file, name: functionName(node, sf), line: first + 1, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function functionName(node: ts.SignatureDeclaration, sf: ts.SourceFile): string {
  if (node.name) return node.name.getText(sf);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText(sf);
  return '(anonymous)';
}

/** The files and functions over the limits, under `root` (the repository). */
export function measure(root: string): { longFiles: { file: string; lines: number }[]; longFunctions: LongFunction[] } {
  const longFiles: { file: string; lines: number }[] = [];
  const fns: LongFunction[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const lines = lineCount(text);
    if (lines > MAX_FILE_LINES) longFiles.push({ file, lines });
    fns.push(...longFunctions(file, text, MAX_FUNCTION_LINES));
  }
  return { longFiles, longFunctions: fns };
}
