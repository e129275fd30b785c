/**
 * The conductor's watch over its workers: who can run what, what is blocked, and the autoscaler
 * that asks schedulers for allocations while work waits.
 */
export { Fleet } from './fleet.js';
export type { AutoscaleConfig } from './fleet.js';
