/**
 * The last lines of a step's output file (`<workspace>/<fileName>.err`), for `maestro status
 * --failed` and the dashboard. Reads at most `maxBytes` from the end, so a step that wrote
 * gigabytes costs the same as one that wrote a line.
 *
 * A step owns its workspace and may put anything where its output file should be: a link to a
 * file only the dashboard's user may read, a FIFO that would block the read forever (and, a few
 * requests later, Node's whole thread pool), a device. So the file is opened without following
 * a link and without blocking, and read only if it is a regular file that really lies inside the
 * study's folder (checked on the opened descriptor, so swapping a folder for a link between a
 * check and the open wins nothing).
 */
import { constants } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ExpandedStudy } from '@maestro/spec';

export interface FileTail {
  readonly file: string;
  /** The last lines, without their newlines; empty when the file is empty. */
  readonly lines: string[];
  /** Whether there is more before the first line shown. */
  readonly truncated: boolean;
  /** Set when the file cannot be read: 'missing', why it is refused, or the errno text. */
  readonly problem?: string;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The last `maxLines` lines of `file`, which must be a regular file inside the folder `within`. */
export async function readTail(file: string, maxLines: number, within: string, maxBytes = 16_384): Promise<FileTail> {
  const refused = (problem: string): FileTail => ({ file, lines: [], truncated: false, problem });
  let handle: FileHandle;
  try {
    handle = await open(file, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return refused('missing');
    if (code === 'ELOOP') return refused('not read: it is a symbolic link');
    return refused(code ?? String(err));
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return refused('not read: it is not a regular file');
    if (!(await liesWithin(handle, file, within))) return refused('not read: it lies outside the study folder');
    const size = stat.size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, size - length);
    let text = buf.subarray(0, bytesRead).toString('utf8');
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

/** Whether the file open on `handle` is inside the folder `within`, links resolved. */
async function liesWithin(handle: FileHandle, file: string, within: string): Promise<boolean> {
  const root = await realpath(within).catch(() => path.resolve(within));
  // Linux names the file an open descriptor refers to; elsewhere, resolve the path itself.
  const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => realpath(file).catch(() => ''));
  return opened.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Where instance `i` of a study writes its standard error. */
export function errFileOf(x: ExpandedStudy, i: number): string {
  const inst = x.instance(i);
  return path.join(x.root, inst.workspace, `${inst.fileName}.err`);
}
