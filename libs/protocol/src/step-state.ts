/**
 * Step instance states, numbered as Maestro numbers them (maestrowf State enum) so that
 * `status.csv` reads the same, plus PREEMPTED for steps handed back before an allocation ends.
 */
export const StepState = {
  INITIALIZED: 0,
  PENDING: 1,
  WAITING: 2,
  RUNNING: 3,
  FINISHING: 4,
  FINISHED: 5,
  QUEUED: 6,
  FAILED: 7,
  INCOMPLETE: 8,
  HWFAILURE: 9,
  TIMEDOUT: 10,
  UNKNOWN: 11,
  CANCELLED: 12,
  NOTFOUND: 13,
  DRYRUN: 14,
  PREEMPTED: 15,
} as const;
export type StepStateName = keyof typeof StepState;
export type StepStateCode = (typeof StepState)[StepStateName];

const NAMES: Record<number, StepStateName> = Object.fromEntries(
  Object.entries(StepState).map(([name, code]) => [code, name as StepStateName]),
);

export function stepStateName(code: number): StepStateName {
  return NAMES[code] ?? 'UNKNOWN';
}

/** States an instance never leaves (the study is done when every instance is in one). */
export function isFinalState(code: number): boolean {
  return (
    code === StepState.FINISHED ||
    code === StepState.FAILED ||
    code === StepState.TIMEDOUT ||
    code === StepState.CANCELLED
  );
}

/** Study outcome, numbered as Maestro's StudyStatus; `maestro run` exits with it. */
export const StudyState = {
  FINISHED: 0,
  RUNNING: 1,
  FAILURE: 2,
  CANCELLED: 3,
} as const;
export type StudyStateName = keyof typeof StudyState;
