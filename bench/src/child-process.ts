/** Runs a benchmark child (a compiled bench/dist/children/*.js) and returns its JSON output. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const childrenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children');

export async function runChild<T>(name: string, args: readonly string[], nodeArgs: readonly string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, path.join(childrenDir, `${name}.js`), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench child ${name} exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch (err) {
        reject(new Error(`bench child ${name} printed no JSON: ${out.slice(-500)}`, { cause: err }));
      }
    });
  });
}
