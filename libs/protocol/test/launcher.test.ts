import { describe, expect, it } from 'vitest';
import { expandLauncher, LauncherError } from '@maestro/protocol';

const local = { scheduler: 'local' as const, resources: { nodes: 2, procs: 8 } };

describe('expandLauncher', () => {
  it('removes a bare $(LAUNCHER) for local runs', () => {
    expect(expandLauncher('$(LAUNCHER) ./sim -n 8\n', local)).toBe(' ./sim -n 8\n');
  });

  it('removes bracketed allocations and every token of a script', () => {
    const script = '#!/bin/bash\n$(LAUNCHER)[1n, 4p] ./a\n$(LAUNCHER)[4p] ./b\n$(LAUNCHER) ./c\n';
    expect(expandLauncher(script, local)).toBe('#!/bin/bash\n ./a\n ./b\n ./c\n');
  });

  it('leaves scripts without the token, and other $(...) text, untouched', () => {
    const script = 'echo $(date) $(LAUNCHERS) [x]\n';
    expect(expandLauncher(script, local)).toBe(script);
  });

  it('does not let a bracket run across lines', () => {
    expect(expandLauncher('$(LAUNCHER)[2n\n]', local)).toBe('[2n\n]');
  });

  it('names the scheduler it cannot expand for', () => {
    const run = (): string => expandLauncher('$(LAUNCHER) x', { scheduler: 'slurm', resources: {} });
    expect(run).toThrow(LauncherError);
    expect(run).toThrow(/scheduler 'slurm'; supported: local/);
    expect(expandLauncher('no token', { scheduler: 'flux', resources: {} })).toBe('no token');
  });
});
