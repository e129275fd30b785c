/**
 * A stand-in for `maestro-worker` in conductor tests: a real BullMQ Worker on a real Redis that
 * claims and reports through the real fence scripts, but decides each run's outcome from the
 * test instead of spawning a process. The members of a bundle run one after the other, as the real
 * worker runs them (without its report-and-claim shortcut), and a chain stops at its first member
 * that does not succeed or is refused, handing the rest back. The end-to-end tests use the real
 * worker.
 */
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  bundleMembers,
  CLAIM_RUN_LUA,
  DEFAULT_QUEUE,
  eventsKey,
  fenceKey,
  REPORT_RESULT_LUA,
  STATE_RECORD_BYTES,
  stateKey,
  StepJob,
  studyKey,
  type Outcome,
} from '@maestro/protocol';

export interface RunRecord {
  readonly index: number;
  readonly attempt: number;
  readonly run: number;
  readonly name: string;
  readonly kind: 'cmd' | 'restart';
  readonly startMs: number;
  endMs?: number;
  accepted?: boolean;
}

export type Behaviour = (
  job: StepJob,
  run: number,
) =>
  | { outcome: Outcome; exitCode?: number; delayMs?: number }
  | Promise<{ outcome: Outcome; exitCode?: number; delayMs?: number }>;

type Cmds = Redis & {
  claim(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<[number, number | string]>;
  report(k1: string, k2: string, ...args: string[]): Promise<number>;
};

export class ScriptedWorker {
  readonly runs: RunRecord[] = [];
  readonly refused: { index: number; reason: string }[] = [];
  /** Instances per job received, in order (1 for an instance sent alone). */
  readonly jobSizes: number[] = [];
  /** The names of the members of each chain received, in order. */
  readonly chains: string[][] = [];
  /** Instances handed back unstarted from a broken chain. */
  readonly handedBack: number[] = [];
  running = 0;
  maxRunning = 0;
  readonly #redis: Cmds;
  readonly #worker: Worker;
  /** The host it reports from (bad-node tests run several). */
  readonly #host: string;

  constructor(
    url: string,
    prefix: string,
    behaviour: Behaviour,
    options: { concurrency?: number; queue?: string; handBackDelayMs?: number; host?: string } = {},
  ) {
    this.#host = options.host ?? 'test';
    this.#redis = new Redis(url, { maxRetriesPerRequest: null }) as Cmds;
    this.#redis.defineCommand('claim', { numberOfKeys: 4, lua: CLAIM_RUN_LUA });
    this.#redis.defineCommand('report', { numberOfKeys: 2, lua: REPORT_RESULT_LUA });
    this.#worker = new Worker(
      options.queue ?? DEFAULT_QUEUE,
      async (job: Job) => {
        const data = StepJob.parse(job.data);
        const members = bundleMembers(data);
        this.jobSizes.push(members.length);
        if (data.chain) this.chains.push(members.map((m) => m.name));
        for (let k = 0; k < members.length; k++) {
          const outcome = await this.#process(members[k]!, behaviour);
          if (data.chain && outcome !== 'succeeded') {
            if (options.handBackDelayMs) await new Promise((r) => setTimeout(r, options.handBackDelayMs));
            for (const rest of members.slice(k + 1)) await this.#handBack(rest);
            return;
          }
        }
      },
      { connection: new Redis(url, { maxRetriesPerRequest: null }), prefix, concurrency: options.concurrency ?? 8 },
    );
    this.#worker.on('error', () => undefined);
  }

  /** Claims and runs one member; its outcome, or undefined when its claim was refused. */
  async #process(job: StepJob, behaviour: Behaviour): Promise<Outcome | undefined> {
    const claimed = await this.#claim(job);
    if (!claimed) return undefined;
    const { run, startMs } = claimed;
    const rec: RunRecord = { index: job.index, attempt: job.attempt, run, name: job.name, kind: job.kind, startMs };
    this.runs.push(rec);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      const b = await behaviour(job, run);
      if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
      rec.endMs = Date.now();
      rec.accepted = await this.#report(job, run, startMs, rec.endMs, b.outcome, b.exitCode);
      return b.outcome;
    } finally {
      this.running--;
    }
  }

  /** A member of a broken chain, claimed and reported `interrupted` without running. */
  async #handBack(job: StepJob): Promise<void> {
    const claimed = await this.#claim(job);
    if (!claimed) return;
    this.handedBack.push(job.index);
    await this.#report(job, claimed.run, claimed.startMs, Date.now(), 'interrupted', undefined);
  }

  async #claim(job: StepJob): Promise<{ run: number; startMs: number } | undefined> {
    const started = {
      type: 'started',
      index: job.index,
      attempt: job.attempt,
      worker: `scripted@${this.#host}`,
      host: this.#host,
      pid: 0,
      startMs: Date.now(),
    };
    const [ok, runOrReason] = await this.#redis.claim(
      fenceKey(job.prefix, job.studyId),
      studyKey(job.prefix, job.studyId),
      eventsKey(job.prefix, job.studyId),
      stateKey(job.prefix, job.studyId),
      String(job.index),
      String(job.attempt),
      '5',
      JSON.stringify(started),
      String(STATE_RECORD_BYTES),
      '1', // announce: write the started event with the claim
    );
    if (ok !== 1) {
      this.refused.push({ index: job.index, reason: String(runOrReason) });
      return undefined;
    }
    return { run: Number(runOrReason), startMs: started.startMs };
  }

  async #report(
    job: StepJob,
    run: number,
    startMs: number,
    endMs: number,
    outcome: Outcome,
    exitCode: number | undefined,
  ): Promise<boolean> {
    const result = {
      type: 'result',
      index: job.index,
      attempt: job.attempt,
      run,
      worker: `scripted@${this.#host}`,
      host: this.#host,
      outcome,
      exitCode: outcome === 'interrupted' ? null : (exitCode ?? (outcome === 'succeeded' ? 0 : 1)),
      signal: null,
      pid: outcome === 'interrupted' ? 0 : 4242,
      startMs,
      endMs,
    };
    return (
      (await this.#redis.report(
        fenceKey(job.prefix, job.studyId),
        eventsKey(job.prefix, job.studyId),
        String(job.index),
        String(job.attempt),
        String(run),
        JSON.stringify(result),
      )) === 1
    );
  }

  async close(): Promise<void> {
    await this.#worker.close();
    this.#redis.disconnect();
  }
}
