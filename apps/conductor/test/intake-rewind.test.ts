/** After a failover the intake's cursors go back to what the new primary has, never forward. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { compareStreamIds, ResultIntake } from '../src/conductor/intake.js';
import { expand, machineOf, sweep } from './helpers/machine-study.js';

function intakeAt(events: string, control: string): ResultIntake {
  const { m } = machineOf(expand(sweep(2)));
  // rewind reads nothing from the store.
  const store = { read: () => Promise.reject(new Error('not read')) };
  return new ResultIntake(store, m, pino({ level: 'silent' }), () => 0, { events, control });
}

describe('compareStreamIds', () => {
  it('orders by time, then sequence, numerically', () => {
    expect(compareStreamIds('1700000000000-0', '1700000000000-1')).toBeLessThan(0);
    expect(compareStreamIds('999-5', '1000-0')).toBeLessThan(0);
    expect(compareStreamIds('1000-10', '1000-9')).toBeGreaterThan(0);
    expect(compareStreamIds('0', '0-0')).toBe(0);
  });
});

describe('ResultIntake.rewind', () => {
  it('moves a cursor back to the newest entry the server has, when it points past it', () => {
    const intake = intakeAt('2000-3', '1500-0');
    expect(intake.rewind({ events: '1990-0', control: '1500-0' })).toBe(true);
    expect(intake.cursors).toEqual({ events: '1990-0', control: '1500-0' });
  });

  it('leaves cursors the server has reached alone, and says so', () => {
    const intake = intakeAt('2000-3', '0');
    expect(intake.rewind({ events: '2100-0', control: '0-0' })).toBe(false);
    expect(intake.cursors).toEqual({ events: '2000-3', control: '0' });
  });

  it('goes back to the start of a stream the server does not have', () => {
    const intake = intakeAt('2000-3', '10-0');
    intake.rewind({ events: '0-0', control: '0-0' });
    expect(intake.cursors).toEqual({ events: '0-0', control: '0-0' });
  });
});
