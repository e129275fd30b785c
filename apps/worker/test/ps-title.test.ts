/** A password in the worker's arguments is replaced in the title `ps` shows. */
import { describe, expect, it } from 'vitest';
import { redactArgv } from '../src/ps-title.js';

describe('redactArgv', () => {
  it('replaces URL passwords in any argument and leaves the rest alone', () => {
    expect(redactArgv(['--redis', 'rediss://alice:p%40ss@h:1', '--name', 'w:1@x', '--redis=redis://:pw@h'])).toEqual([
      '--redis',
      'rediss://alice:***@h:1',
      '--name',
      'w:1@x',
      '--redis=redis://:***@h',
    ]);
  });
});
