/**
 * What the two chain ceilings (bullmq-chain, stream-wake) share: a helper process that paces
 * the chain with spawned `true`s, and the line of CPU they print for the noop scenario.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** Spawns `true` and waits for it: one link's step. */
export const spawnTrue = (): Promise<void> =>
  new Promise((resolve, reject) => {
    spawn('true', { stdio: 'ignore' }).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${code}`))));
  });

/** Starts `script` (an import.meta.url) again with `args` and waits for its first line ("ready"). */
export async function startHelper(
  script: string,
  args: readonly string[],
): Promise<ChildProcessByStdio<null, Readable, null>> {
  const helper = spawn(process.execPath, [fileURLToPath(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => helper.stdout.once('data', () => resolve()));
  return helper;
}

/** Starts counting this process's CPU; the returned function prints {links, cpuMs, ms}. */
export function measureLinks(links: number): () => void {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(`${JSON.stringify({ links, cpuMs: (cpu.user + cpu.system) / 1000, ms })}\n`);
  };
}
