/**
 * The study root on disk: created without ever colliding with an existing one, and never
 * deleting what a user wrote without being asked.
 */
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';

export class StudyRootError extends Error {
  override readonly name = 'StudyRootError';
}

export interface CreateRootOptions {
  /** True when the user named the root with `-o` (used verbatim, no timestamp). */
  readonly explicit: boolean;
  /** `-y`: answer yes to replacing an existing study at `-o DIR`. */
  readonly yes?: boolean | undefined;
  /** `-n`: answer no. */
  readonly no?: boolean | undefined;
  /** Ask on the terminal when neither -y nor -n is given. */
  readonly interactive: boolean;
}

/** A study root this run made (or emptied), and how to take it back. */
export interface StudyRoot {
  /** The root's path (which may differ from the one asked for, to avoid a clash). */
  readonly path: string;
  /**
   * Removes what this run wrote, for a run refused before its study started: the folders it
   * created (the root and any parent it made), or, in a folder the user gave with `-o` that
   * existed, everything in it (it was empty, or held a study the user asked to replace).
   */
  undo(): Promise<void>;
}

/** Creates the root folder (never writing into a folder that holds anything but a study to replace). */
export async function createStudyRoot(root: string, options: CreateRootOptions): Promise<StudyRoot> {
  // The first folder this made, if any: the parents of a root are the run's too.
  const madeParent = await mkdir(path.dirname(root), { recursive: true });
  const made = (dir: string): StudyRoot => ({
    path: dir,
    undo: () => rm(madeParent ?? dir, { recursive: true, force: true }),
  });
  if (!options.explicit) {
    // Two runs started in the same second get the same timestamp: add -2, -3, ...
    for (let n = 1; n < 1000; n++) {
      const candidate = n === 1 ? root : `${root}-${n}`;
      try {
        await mkdir(candidate);
        return made(candidate);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new StudyRootError(`could not find a free study folder next to ${root}`);
  }
  const existing = await readdir(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing === undefined) {
    await mkdir(root, { recursive: true });
    return made(root);
  }
  if (existing.length === 0) return emptied(root);
  const isStudy = await access(path.join(root, 'meta', 'study.json')).then(
    () => true,
    () => false,
  );
  if (!isStudy) {
    throw new StudyRootError(
      `${root} exists and is not a maestro study; refusing to write into it or delete it. Choose another -o folder.`,
    );
  }
  let replace = options.yes === true;
  if (!replace && !options.no && options.interactive) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question(`${root} holds an earlier study. Delete it and start again? [y/N] `);
    rl.close();
    replace = /^y(es)?$/i.test(answer.trim());
  }
  if (!replace) {
    throw new StudyRootError(
      `${root} holds an earlier study; pass -y to delete it and start again, or choose another -o folder.`,
    );
  }
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  return emptied(root);
}

/** A folder the user gave that existed: undo empties it again, and leaves it. */
function emptied(root: string): StudyRoot {
  return {
    path: root,
    undo: async () => {
      for (const name of await readdir(root).catch(() => []))
        await rm(path.join(root, name), { recursive: true, force: true });
    },
  };
}
