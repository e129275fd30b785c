/** The worker's record of a success, in the workspace: what answers a run whose report was lost. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRunRecord, writeRunRecord } from '../src/run-record.js';

const fields = { outcome: 'succeeded' as const, exitCode: 0, signal: null, pid: 4242, startMs: 1000 };

describe('run records', () => {
  it('answer every attempt of the same instance of the same study', () => {
    const job = { workspace: mkdtempSync(path.join(tmpdir(), 'maestro-rec-')) };
    expect(readRunRecord(job, { studyId: 's', index: 3, attempt: 1 })).toBeUndefined();
    expect(writeRunRecord(job, { studyId: 's', index: 3, attempt: 2 }, { fields, endMs: 1500 })).toBe(true);
    expect(readRunRecord(job, { studyId: 's', index: 3, attempt: 2 })).toEqual({ fields, endMs: 1500 });
    expect(readRunRecord(job, { studyId: 's', index: 3, attempt: 3 })).toEqual({ fields, endMs: 1500 });
    // An older attempt's job brought back by a failover after this success: answered, not run.
    expect(readRunRecord(job, { studyId: 's', index: 3, attempt: 1 })).toEqual({ fields, endMs: 1500 });
    expect(readRunRecord(job, { studyId: 'other', index: 3, attempt: 2 })).toBeUndefined();
    expect(readRunRecord(job, { studyId: 's', index: 4, attempt: 2 })).toBeUndefined();
  });

  it('ignore a half-written record and one that is not a success', () => {
    const job = { workspace: mkdtempSync(path.join(tmpdir(), 'maestro-rec-')) };
    writeFileSync(path.join(job.workspace, '.maestro-run.0.json'), '{"study":"s","attempt":1,"fie');
    expect(readRunRecord(job, { studyId: 's', index: 0, attempt: 1 })).toBeUndefined();
    writeRunRecord(job, { studyId: 's', index: 0, attempt: 1 }, { fields: { ...fields, outcome: 'failed' }, endMs: 2 });
    expect(readRunRecord(job, { studyId: 's', index: 0, attempt: 1 })).toBeUndefined();
  });

  it('is not written where the workspace is gone, and says so', () => {
    const job = { workspace: '/nonexistent/maestro-rec' };
    expect(writeRunRecord(job, { studyId: 's', index: 0, attempt: 1 }, { fields, endMs: 2 })).toBe(false);
  });
});
