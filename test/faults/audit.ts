/**
 * The audit every fault scenario ends with: every instance in a final state and listed once in
 * status.csv; every FINISHED instance ran to success exactly once, or, where it ran more than
 * once, the run whose result was accepted is the newest one (older runs were superseded: their
 * results were refused by the fence), and no run's result was counted twice.
 *
 * Steps of fault studies log each run in their workspace (FAULT_STEP): "start|done ATTEMPT RUN
 * PID", PID being the step's own shell, which is the pid the worker reports.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readStatus } from '../helpers/study.js';

/** A step body that logs its runs for the audit around `work` (default: a sleep). */
export const faultStep = (sleepSeconds: number | string, work = `sleep ${sleepSeconds}`): string =>
  `echo "start $MAESTRO_ATTEMPT $MAESTRO_RUN $$" >> runs.log; ${work}; echo "done $MAESTRO_ATTEMPT $MAESTRO_RUN $$" >> runs.log`;

/** The same as a YAML block scalar, indented for a `cmd: |` at `indent` spaces. */
export const faultStepBlock = (indent: number, work: string): string =>
  `|\n${' '.repeat(indent)}echo "start $MAESTRO_ATTEMPT $MAESTRO_RUN $$" >> runs.log\n${' '.repeat(indent)}${work}\n${' '.repeat(indent)}echo "done $MAESTRO_ATTEMPT $MAESTRO_RUN $$" >> runs.log`;

const FINAL = new Set(['FINISHED', 'FAILED', 'TIMEDOUT', 'CANCELLED']);

export interface AuditReport {
  problems: string[];
  /** Instances that ran more than once (a run was superseded), for the scenario to inspect. */
  rerun: string[];
  states: Record<string, string>;
}

export function auditStudy(root: string): AuditReport {
  const problems: string[] = [];
  const rerun: string[] = [];
  const meta = JSON.parse(readFileSync(path.join(root, 'meta/study.json'), 'utf8')) as { instanceCount: number };
  const rows = readStatus(root);
  const states = Object.fromEntries(rows.map((r) => [r.name, r.state]));
  if (rows.length !== meta.instanceCount)
    problems.push(`status.csv lists ${rows.length} instances, the study has ${meta.instanceCount}`);
  if (new Set(rows.map((r) => r.name)).size !== rows.length) problems.push('status.csv lists an instance twice');
  for (const row of rows) {
    if (!FINAL.has(row.state)) problems.push(`${row.name} ended ${row.state}, not in a final state`);
    if (row.state !== 'FINISHED') continue;
    const log = path.join(root, row.workspace, 'runs.log');
    if (!existsSync(log)) {
      problems.push(`${row.name} is FINISHED but never ran`);
      continue;
    }
    const lines = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const key = (a: string, r: string): number => Number(a) * 1000 + Number(r);
    const starts = lines.filter((l) => l[0] === 'start');
    const dones = lines.filter((l) => l[0] === 'done');
    const newest = Math.max(...starts.map((l) => key(l[1]!, l[2]!)));
    const doneRuns = dones.map((l) => key(l[1]!, l[2]!));
    if (new Set(doneRuns).size !== doneRuns.length)
      problems.push(`${row.name}: one run finished twice (${JSON.stringify(dones)})`);
    const accepted = dones.find((l) => l[3] === row.jobId);
    if (!accepted) {
      problems.push(
        `${row.name}: the accepted run (pid ${row.jobId}) is not a run that finished: ${JSON.stringify(lines)}`,
      );
      continue;
    }
    if (key(accepted[1]!, accepted[2]!) !== newest) {
      problems.push(
        `${row.name}: the accepted run ${accepted[1]}.${accepted[2]} is not the newest (${newest}): ${JSON.stringify(lines)}`,
      );
    }
    if (dones.length > 1) rerun.push(row.name);
  }
  return { problems, rerun, states };
}

/** A small seeded generator (mulberry32), so a failing seed can be run again. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A study of fan-out, chain and funnel steps, each logging its runs. */
export function faultStudy(width: number, sleep = '0.2'): string {
  return `study:
  - {name: setup, description: first, run: {cmd: '${faultStep(sleep)}'}}
  - name: sim
    description: one of many
    run:
      cmd: '${faultStep(sleep)} # $(N)'
      depends: [setup]
  - name: post
    description: after its sim
    run:
      cmd: '${faultStep(sleep)} # $(N)'
      depends: [sim]
  - {name: gather, description: after all, run: {cmd: '${faultStep(sleep)}', depends: [post_*]}}
global.parameters:
  N: {values: [${Array.from({ length: width }, (_, k) => k).join(', ')}], label: N.%%}
`;
}
