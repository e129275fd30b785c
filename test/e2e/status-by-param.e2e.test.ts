/**
 * `maestro status --by-param` on a study where one parameter value always fails: that value is
 * named first (with the value of a zipped parameter that covers the same instances), the JSON
 * has the counts, and a study without parameters says so.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { maestro } from '../helpers/cli.js';
import { killAll, startMaestro, waitForOutput } from '../helpers/processes.js';
import { tempDir, writeSpec } from '../helpers/study.js';

const redisUrl = inject('redisUrl');
afterEach(killAll);

// Maestro zips parameters: 12 combinations, MESH and RES moving together, SEED across them.
const spec = `study:
  - name: prep
    description: no parameters
    run:
      cmd: echo prep
  - name: sim
    description: fails for the fine mesh only
    run:
      cmd: |
        if [ "$(MESH)" = fine ]; then echo "mesh too fine" >&2; exit 3; fi
        echo "$(MESH) $(RES) $(SEED)"
      depends: [prep]
global.parameters:
  MESH: {values: [coarse, fine, medium, coarse, fine, medium, coarse, fine, medium, coarse, fine, medium], label: MESH.%%}
  RES: {values: [lo, hi, mid, lo, hi, mid, lo, hi, mid, lo, hi, mid], label: RES.%%}
  SEED: {values: [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4], label: SEED.%%}
`;

describe('maestro status --by-param', () => {
  let root: string;

  beforeAll(async () => {
    const dir = tempDir();
    root = path.join(dir, 'study');
    const run = await maestro([
      'run',
      '-o',
      root,
      '--redis',
      redisUrl,
      '--prefix',
      `p${randomUUID().slice(0, 8)}`,
      '--local-workers',
      '2',
      writeSpec(dir, 'meshes', spec),
    ]);
    expect(run.exitCode, run.stderr).toBe(2);
  }, 120_000);

  it('names the failing value first, with the value that always goes with it', async () => {
    const r = await maestro(['status', '--by-param', root]);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('meshes (FAILURE): 13 instances, 4 failed');
    expect(lines[1]).toBe(
      '! all 4 failures have MESH=fine (with RES=hi, which cover the same instances) in sim: ' +
        '4 of its 4 ended instances failed, against 0 of the 8 with other MESH values',
    );
    // No other finding: SEED's values each have one failure.
    expect(lines[2]).toBe('');
    expect(lines[3]).toMatch(/^MESH\s+instances\s+finished\s+failed\s+active\s+other\s+median run$/);
    expect(lines[4]).toMatch(/^fine\s+4\s+0\s+4\s+0\s+0\s+--$/);
    expect(r.stdout).toMatch(/^coarse\s+4\s+4\s+0\s+0\s+0\s+\d+s$/m);
    expect(r.stdout).toMatch(/^SEED\s+instances/m);
  });

  it('gives the counts as JSON', async () => {
    const r = await maestro(['status', '--by-param', '--json', root]);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      study: { state: string };
      instances: number;
      withParams: number;
      failed: number;
      standouts: { param: string; value: string; failed: number; sameInstances: string[]; steps: string[] }[];
      findings: string[];
      params: Record<string, { value: string; instances: number; finished: number; failed: number }[]>;
    };
    expect(j.study.state).toBe('FAILURE');
    expect([j.instances, j.withParams, j.failed]).toEqual([13, 12, 4]);
    expect(j.standouts).toHaveLength(1);
    expect(j.standouts[0]).toMatchObject({
      param: 'MESH',
      value: 'fine',
      failed: 4,
      sameInstances: ['RES=hi'],
      steps: ['sim'],
    });
    expect(j.findings[0]).toMatch(/^all 4 failures have MESH=fine/);
    const counts = (p: string): Record<string, [number, number, number]> =>
      Object.fromEntries(j.params[p]!.map((v) => [v.value, [v.instances, v.finished, v.failed]]));
    expect(counts('MESH')).toEqual({ fine: [4, 0, 4], coarse: [4, 4, 0], medium: [4, 4, 0] });
    expect(counts('SEED')).toEqual({ '1': [3, 2, 1], '2': [3, 2, 1], '3': [3, 2, 1], '4': [3, 2, 1] });
  });

  it('refuses --by-param with --watch, naming both', async () => {
    const r = await maestro(['status', '--by-param', '--watch', root]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/--by-param.*--watch|--watch.*--by-param/);
  });

  it('the dashboard on the study folder shows the same finding in its panel, and its JSON', async () => {
    const dash = startMaestro(['dashboard', root, '--port', '0']);
    const url = (await waitForOutput(dash, /maestro dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    const studies = (await (await fetch(`${url}api/studies`)).json()) as { items: { id: string }[] };
    const id = studies.items[0]!.id;
    const j = (await (await fetch(`${url}api/studies/${id}/by-param`)).json()) as {
      available: boolean;
      findings: string[];
      params: Record<string, { value: string; failed: number }[]>;
    };
    expect(j.available).toBe(true);
    expect(j.findings).toHaveLength(1);
    expect(j.findings[0]).toMatch(
      /^all 4 failures have MESH=fine \(with RES=hi, which cover the same instances\) in sim: /,
    );
    expect(j.params['MESH']!.map((v) => [v.value, v.failed])).toEqual([
      ['fine', 4],
      ['coarse', 0],
      ['medium', 0],
    ]);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${url}#/study/${encodeURIComponent(id)}`);
      const finding = page.locator('[data-testid="by-param"] [data-testid="finding"]');
      await finding.first().waitFor({ timeout: 30_000 });
      expect(await finding.allTextContents()).toEqual([j.findings[0]]);
      expect(
        await page
          .locator('[data-testid="param-table"]')
          .evaluateAll((ts) => ts.map((t) => t.getAttribute('data-param'))),
      ).toEqual(['MESH', 'RES', 'SEED']);
    } finally {
      await browser.close();
    }
  });
});
