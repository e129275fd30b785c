/** Helpers for end-to-end tests: temporary studies, their status, and the processes they leave. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function tempDir(prefix = 'maestro-e2e-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Writes a spec (prefixed with a description block) and returns its path. */
export function writeSpec(dir: string, name: string, body: string, description = true): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `${description ? `description: {name: ${name}, description: end-to-end test study}\n` : ''}${body}`,
  );
  return file;
}

export interface StatusRow {
  name: string;
  jobId: string;
  workspace: string;
  state: string;
  restarts: number;
}

/** Rows of a study's status.csv (no commas in the test studies' values). */
export function readStatus(root: string): StatusRow[] {
  const [, ...lines] = readFileSync(path.join(root, 'status.csv'), 'utf8').trim().split('\n');
  return lines.map((l) => {
    const f = l.split(',');
    return { name: f[0]!, jobId: f[1]!, workspace: f[2]!, state: f[3]!, restarts: Number(f[9]) };
  });
}

export function statesByName(root: string): Record<string, string> {
  return Object.fromEntries(readStatus(root).map((r) => [r.name, r.state]));
}

/** PIDs of live processes whose command line contains `marker` (zombies excluded). */
export function processesWith(marker: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(marker) && !l.includes('ps -eo'))
    .map((l) => l.split(/\s+/))
    .filter((f) => !f[1]!.startsWith('Z'))
    .map((f) => Number(f[0]));
}

export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until at least `count` instances whose names start with `prefix` are RUNNING in status.csv. */
export async function waitForRunning(root: string, prefix: string, count: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    () => {
      try {
        return readStatus(root).filter((r) => r.name.startsWith(prefix) && r.state === 'RUNNING').length >= count;
      } catch {
        return false; // no status.csv yet
      }
    },
    timeoutMs,
    `${count} ${prefix} steps to run`,
  );
}

/** Files under `dir` (paths relative to it) whose bytes contain any of `needles`. */
export function filesContaining(dir: string, needles: readonly string[]): string[] {
  const hits: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else if (st?.isFile() && needles.some((n) => readFileSync(p).includes(n))) hits.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return hits.sort();
}

/** The conductor's log lines (JSON) of the study at `root` whose message matches `pattern`. */
export function conductorLogLines(root: string, pattern: RegExp): Record<string, unknown>[] {
  return readFileSync(path.join(root, 'meta/conductor.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => pattern.test(String(l['msg'])));
}
