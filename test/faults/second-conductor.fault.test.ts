/** A second conductor on a running study is refused; the first goes on undisturbed. */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro } from '../helpers/processes.js';
import { tempDir, waitFor, writeSpec } from '../helpers/study.js';
import { existsSync, writeFileSync } from 'node:fs';
import { auditStudy, faultStep } from './audit.js';

afterEach(killAll);

describe('two conductors', () => {
  it('a second conductor started on a running study is refused', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const root = path.join(dir, 'study');
    const spec = writeSpec(
      dir,
      'busy',
      `study:\n  - {name: gate, description: waits, run: {cmd: '${faultStep(0, 'while [ ! -e $(SPECROOT)/go ]; do sleep 0.05; done')}'}}\n  - {name: after, description: then, run: {cmd: '${faultStep('0.1')}', depends: [gate]}}\n`,
    );
    const first = startMaestro(['run', '-o', root, '--local-workers', '1', spec]);
    await waitFor(() => existsSync(path.join(root, 'status.csv')), 60_000, 'the first conductor to start');
    const second = await maestro(['resume', root, '--local-workers', '0'], { timeout: 60_000 });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toMatch(
      /another conductor \(host .*, pid \d+\) is driving this study; only one may run it at a time/,
    );
    writeFileSync(path.join(dir, 'go'), '');
    const result = await first;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(auditStudy(root).problems).toEqual([]);
  });
});
