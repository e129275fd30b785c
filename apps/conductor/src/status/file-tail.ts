/**
 * The last lines of a step's output file (`<workspace>/<fileName>.err`), for `maestro status
 * --failed` and the dashboard. Reads at most `maxBytes` from the end, so a step that wrote
 * gigabytes costs the same as one that wrote a line.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { ExpandedStudy } from '@maestro/spec';

export interface FileTail {
  readonly file: string;
  /** The last lines, without their newlines; empty when the file is empty. */
  readonly lines: string[];
  /** Whether there is more before the first line shown. */
  readonly truncated: boolean;
  /** Set when the file cannot be read: 'missing' or the errno text. */
  readonly problem?: string;
}

export async function readTail(file: string, maxLines: number, maxBytes = 16_384): Promise<FileTail> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { file, lines: [], truncated: false, problem: code === 'ENOENT' ? 'missing' : (code ?? String(err)) };
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    let text = buf.toString('utf8');
    let truncated = length < size;
    if (truncated) text = text.slice(text.indexOf('\n') + 1); // drop the partial first line
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    if (lines.length > maxLines) {
      truncated = true;
      lines.splice(0, lines.length - maxLines);
    }
    return { file, lines, truncated };
  } finally {
    await handle.close();
  }
}

/** Where instance `i` of a study writes its standard error. */
export function errFileOf(x: ExpandedStudy, i: number): string {
  const inst = x.instance(i);
  return path.join(x.root, inst.workspace, `${inst.fileName}.err`);
}
