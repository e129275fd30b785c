/** Errors of launching and managing worker allocations. Branch on `code`, never on the message. */
export const AllocationErrorCode = {
  /** An option is wrong (value, combination, or not supported by the scheduler); nothing was submitted. */
  Invalid: 'ALLOCATION_INVALID',
  /** Steps of the study can never run in the allocation asked for; nothing was submitted. */
  TooSmall: 'ALLOCATION_TOO_SMALL',
  /** The scheduler refused the submission (sbatch / flux batch failed). */
  Submit: 'ALLOCATION_SUBMIT',
  /** The scheduler could not be asked (squeue, scancel, ... failed or are missing). */
  Scheduler: 'ALLOCATION_SCHEDULER',
} as const;
export type AllocationErrorCode = (typeof AllocationErrorCode)[keyof typeof AllocationErrorCode];

export class AllocationError extends Error {
  override readonly name = 'AllocationError';
  readonly code: AllocationErrorCode;
  constructor(code: AllocationErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
