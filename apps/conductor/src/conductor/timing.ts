/**
 * Every timing constant of the conductor, and the sizes that go with them, in one place with the
 * reason for each value. The measurements behind them are in the commit messages that set them
 * (git log -S NAME) and in bench/results.
 */

// ---- reading results ------------------------------------------------------------------------

/**
 * How long a read of the streams blocks when no commit is waiting: the longest the loop sleeps
 * without looking at stop(), a lost lease or its housekeeping.
 */
export const READ_BLOCK_MS = 1000;
/** Stream entries read at most per stream in one batch: a bounded batch keeps each commit small. */
export const READ_COUNT = 5000;
/**
 * While plenty of steps wait in the queue (twice as many as run, twice as many as finish in
 * COALESCE_READS_MS, and at least COALESCE_MIN_WAITING), results are read at most every
 * COALESCE_READS_MS: no worker waits for the conductor then, and reading results in batches
 * rather than one by one costs the conductor far less CPU per step. Otherwise (a fan-in, a
 * throttled study, a step whose children are sent when it ends) results are read as they come,
 * so that a child starts the moment its parent ends.
 */
export const COALESCE_READS_MS = 50;
/** The least that counts as plenty waiting, while the rates above are still small or unknown. */
export const COALESCE_MIN_WAITING = 16;
/**
 * While no result can let anything be sent (every instance in flight has no child, or only the
 * one riding after it in its chain, and nothing ready waits for room), results are read at most
 * every IDLE_READS_MS: no worker waits for them, and only a retry, a cancel or an update waits
 * this long. A chain sent as one job then costs a wake-up per IDLE_READS_MS, not one per link.
 */
export const IDLE_READS_MS = 250;
/**
 * ...except for the study's last few instances: a result may then end the study, and its user
 * waits for that end (a 1-step study's wall time was its step plus up to IDLE_READS_MS). A few
 * wake-ups a study, not one per link of a long chain.
 */
export const PROMPT_READS_LEFT = 4;
/**
 * An idle pause lasts at most this long per instance left. Small studies end within one idle
 * pause (100 no-op steps or a 50-link chain take about 0.2 s): the read that saw their end came
 * up to IDLE_READS_MS after it, which their user waited for (issue #27). A long chain's middle
 * is still read four times a second; only its last IDLE_READS_MS / this many links more often.
 */
export const IDLE_READ_MS_PER_LEFT = 2;

/**
 * The finish rate (progress, ETA, and COALESCE_READS_MS's "finish in") counts the last minute:
 * long enough to smooth a study's bursts, short enough to follow its pace as it changes...
 */
export const FINISH_WINDOW_MS = 60_000;
/** ...to the second: a finish is counted in its second's bucket. */
export const FINISH_BUCKET_MS = 1000;

// ---- committing -----------------------------------------------------------------------------

/**
 * A batch waits for the next commit, this long at most, unless it holds a control request or
 * enqueues a job that could be bundled: a study of many steps commits a few times a second
 * instead of at every read, and a chain of single steps a few times a second instead of at every
 * link. The committed cursor stays behind those events meanwhile, so a conductor that dies reads
 * them again and comes to the same state, enqueuing the same jobs again (the same ids: no-ops)
 * and taking the results of those that ran as its own (InstanceMachine's adoption). A job of a
 * step with several instances is committed before it exists: replayed later, its instances could
 * be bundled otherwise, and one attempt would travel in two jobs.
 */
export const COMMIT_DELAY_MS = 250;
/** Streams are trimmed to the committed cursors this often: a trim is a round trip, not free. */
export const TRIM_EVERY_MS = 5_000;
/**
 * In-flight instances are checked against their jobs this often, for jobs Redis lost (restarted
 * without its data), that BullMQ failed as stalled (their workers lost their locks too often), or
 * that failed in the queue without a result; rare events, so rarely.
 */
export const RECONCILE_EVERY_MS = 30_000;
/**
 * A job found missing from Redis is lost only once it is still missing this long after: a worker
 * may be running it, fetched from a server that lost it since (a failover, a restart from an
 * older file). That worker's lock went with the job, so within its lock duration (10 s by default,
 * renewed every half of it, plus its own reconnection) it kills the step unreported, or the step
 * ends first and the worker keeps its record of the success. Sent again sooner, the step could
 * run beside it and do its work twice.
 */
export const LOST_GRACE_MS = 15_000;

// ---- the lease ------------------------------------------------------------------------------

/**
 * A conductor that finds the lease held waits this long past its time to live for it to lapse
 * (the holder died) before it gives up; a holder renewing it is seen sooner (LEASE_RENEWED_BY_MS).
 */
export const LEASE_WAIT_EXTRA_MS = 5_000;
/** How often a conductor waiting for the lease asks again. */
export const LEASE_POLL_MS = 250;
/**
 * A time to live this much longer than the last one seen means the holder renewed its lease: it
 * is alive. More than the polls' own jitter, less than any renewal (a third of the time to live).
 */
export const LEASE_RENEWED_BY_MS = 200;
/** The lease is renewed every third of its time to live (two renewals may fail before it lapses)... */
export const LEASE_RENEWALS_PER_TTL = 3;
/** ...but not more often than this, whatever the time to live. */
export const LEASE_RENEW_MIN_MS = 500;

// ---- bundles and chains ---------------------------------------------------------------------

/**
 * A step not timed yet sends this many instances alone, and holds the rest until MIN_TIMED runs
 * have ended (then their mean sizes the bundles) or PROBE_WAIT_MS has passed (then it is slow
 * to end, and every instance goes alone).
 */
export const PROBE_INSTANCES = 32;
export const MIN_TIMED = 4;
export const PROBE_WAIT_MS = 1000;
/** The mean run time follows about the last this many runs (a sweep's later instances may be slower). */
export const TIMING_MEMORY = 32;
/**
 * A bundle holds at most this fraction of the instances waiting to be sent (1 / TAIL_SPREAD): the
 * end of a study is not one worker finishing a long bundle while the others have nothing left.
 */
export const TAIL_SPREAD = 32;
/** A bundle still running after this many times its target hands the rest back (StepJob.bundleBudgetMs). */
export const BUNDLE_BUDGET_FACTOR = 5;
/** Script and workspace text one chain job carries at most (its members are in the job's data). */
export const CHAIN_MAX_BYTES = 512 * 1024;
/**
 * The ready list drops the entries already sent once more than this many, and more than half of
 * it, are behind its head: a copy now and then, never one per send.
 */
export const READY_COMPACT_AFTER = 4096;
