/**
 * One node of the simulated fleet: `count` real simulating workers (startWorker from
 * @maestro/worker, each with its own connections, BullMQ Worker, heartbeat and control
 * subscription) in one process, as if `count` nodes' maestro-worker ran here. Redis sees what it
 * would see from `count` real workers; only the steps are simulated (they last `stepMs`).
 *
 * argv: REDIS_URL COUNT CONCURRENCY STEP_MS LOCK_MS NAME (LOCK_MS: the workers' lockDurationMs,
 * 0 for the worker's default; see scenarios/fleet.ts for why the bench lengthens it). Prints `{"ready":N}` once every worker is
 * started; on SIGTERM closes them all and prints {starts, waitsMs, rssMiB}: the number of runs
 * started and each one's wait from queued to started.
 */
import { loadConfig, makeLogger, startWorker, type WorkerHandle } from '@maestro/worker';

const [url = '', countText = '1', concurrencyText = '1', stepMsText = '0', lockMsText = '0', node = 'n0'] =
  process.argv.slice(2);
const count = Number(countText);
/** Workers started at once: enough to start a few hundred quickly, few enough not to stall Redis. */
const STARTING_AT_ONCE = 25;

const log = await makeLogger({ level: 'warn', pretty: false });
const waitsMs: number[] = [];
let starts = 0;
const workers: WorkerHandle[] = [];
// A node's process holds hundreds of workers, each listening for the same process events.
process.setMaxListeners(0);

for (let k = 0; k < count; k += STARTING_AT_ONCE) {
  const batch = Array.from({ length: Math.min(STARTING_AT_ONCE, count - k) }, (_, j) => {
    const config = loadConfig(
      { redis: url, concurrency: concurrencyText, simulate: true, name: `${node}-w${k + j}`, logLevel: 'warn' },
      { MAESTRO_CORES: concurrencyText },
    );
    const lock = Number(lockMsText) > 0 ? { lockDurationMs: Number(lockMsText) } : {};
    return startWorker({ ...config, ...lock, simulateStepMs: Number(stepMsText) }, log, {
      onStepStarted: ({ queuedAtMs, startMs }) => {
        starts++;
        if (queuedAtMs !== undefined) waitsMs.push(startMs - queuedAtMs);
      },
    });
  });
  workers.push(...(await Promise.all(batch)));
}
process.stdout.write(`${JSON.stringify({ ready: workers.length })}\n`);

process.once('SIGTERM', () => {
  void Promise.all(workers.map((w) => w.close())).then(() => {
    const rssMiB = Math.round(process.memoryUsage().rss / 1048576);
    process.stdout.write(`${JSON.stringify({ starts, waitsMs, rssMiB })}\n`);
    process.exit(0);
  });
});
