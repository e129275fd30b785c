/** Redis replies that stop a study, said in one sentence with what to do (describeRedisError). */
import { describe, expect, it } from 'vitest';
import { describeRedisError } from '../src/redis/connection.js';

const where = 'Redis at redis://h:6379';

describe('describeRedisError', () => {
  it('MISCONF: a disk Redis cannot write to', () => {
    expect(
      describeRedisError(new Error('MISCONF Errors writing to the AOF file: No space left on device'), where),
    ).toBe(
      'Redis at redis://h:6379 refuses every write because it cannot save to its disk ' +
        '(it said: Errors writing to the AOF file: No space left on device): free space on that disk, or make it writable',
    );
  });

  it("OOM: maxmemory reached, also inside a script's error", () => {
    const expected =
      "Redis at redis://h:6379 is out of memory and refuses every write (it said: command not allowed when used memory > 'maxmemory'): " +
      'raise its maxmemory (CONFIG SET maxmemory) or free memory in it';
    expect(describeRedisError(new Error("OOM command not allowed when used memory > 'maxmemory'."), where)).toBe(
      expected,
    );
    expect(
      describeRedisError(
        new Error("OOM command not allowed when used memory > 'maxmemory'. script: 4e6d8fc8, on @user_script:12."),
        where,
      ),
    ).toBe(expected);
  });

  it('a transaction refused whole (EXECABORT) is described by the errors of its commands', () => {
    const err = Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
      previousErrors: [new Error("OOM command not allowed when used memory > 'maxmemory'.")],
    });
    expect(describeRedisError(err, where)).toMatch(/^Redis at redis:\/\/h:6379 is out of memory/);
  });

  it('credentials refused', () => {
    expect(describeRedisError(new Error('WRONGPASS invalid username-password pair or user is disabled.'), where)).toBe(
      'Redis at redis://h:6379 refused the credentials (WRONGPASS): give the password with --redis-password-file FILE or in the URL',
    );
    expect(describeRedisError(new Error('NOAUTH Authentication required.'), where)).toMatch(/\(NOAUTH\)/);
  });

  it('leaves other errors alone', () => {
    expect(describeRedisError(new Error('Connection is closed.'), where)).toBeUndefined();
    expect(describeRedisError(new Error('ERR unknown command'), where)).toBeUndefined();
    expect(describeRedisError('ROOM for improvement', where)).toBeUndefined();
  });
});
