/**
 * Fencing: the two Redis scripts through which a worker claims and reports a run. They make the
 * guarantees of the fault model hold (docs/reliability.md):
 *
 * - a run starts only if its attempt is the newest one seen, the instance is not final and the
 *   study is not cancelled; a re-delivered attempt (its worker died or froze past the lock) gets
 *   the next run number;
 * - a result is accepted only from the newest run of the newest attempt, and only once; a frozen
 *   worker waking up after its job went elsewhere is refused;
 * - an attempt re-delivered more than `maxRuns` times (it keeps killing its workers) is failed
 *   instead of run again.
 *
 * Fence field `<index>` of `<p>:study:<id>:fence` holds `attempt:run:done` (done is 0 or 1).
 * Events go to the study's events stream as `e` = JSON; `started` events are written here, with
 * the run number the claim assigned.
 */

/**
 * CLAIM_RUN
 * KEYS[1] fence hash, KEYS[2] study hash, KEYS[3] events stream, KEYS[4] packed state string,
 * optionally KEYS[5] the queue job's lock, KEYS[6] its queue's stalled set
 * ARGV[1] index, ARGV[2] attempt, ARGV[3] maxRuns, ARGV[4] started-event JSON template (without
 *         `run`), ARGV[5] record size in bytes; with the lock: ARGV[6] lock token, ARGV[7] lock
 *         duration (ms), ARGV[8] job id
 * Returns {1, run} when claimed; {0, reason} when refused, reason one of
 *   'lock' (the job's lock is no longer the caller's) | 'cancelled' | 'final' | 'stale' | 'done' |
 *   'crashed' (a failed result was written).
 *
 * The lock is checked and extended in the same script as the claim (as BullMQ's extendLock
 * does: token compare, new expiry, out of the stalled set), so no other worker can take the job
 * between the check and the claim, and a step costs one round trip less.
 */
export const CLAIM_RUN_LUA = `
local idx = ARGV[1]
local attempt = tonumber(ARGV[2])
local maxRuns = tonumber(ARGV[3])
local size = tonumber(ARGV[5])
if KEYS[5] then
  if redis.call('GET', KEYS[5]) ~= ARGV[6] then return {0, 'lock'} end
  redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[7])
  redis.call('SREM', KEYS[6], ARGV[8])
end
if redis.call('HGET', KEYS[2], 'cancelled') == '1' then return {0, 'cancelled'} end
local off = tonumber(idx) * size
local st = redis.call('GETRANGE', KEYS[4], off, off)
if st ~= '' then
  local b = string.byte(st)
  if b == 5 or b == 7 or b == 10 or b == 12 then return {0, 'final'} end
end
local a, r, d = 0, 0, 0
local f = redis.call('HGET', KEYS[1], idx)
if f then
  local p1 = string.find(f, ':', 1, true)
  local p2 = string.find(f, ':', p1 + 1, true)
  a = tonumber(string.sub(f, 1, p1 - 1))
  r = tonumber(string.sub(f, p1 + 1, p2 - 1))
  d = tonumber(string.sub(f, p2 + 1))
end
if a > attempt then return {0, 'stale'} end
local run = 1
if a == attempt then
  if d == 1 then return {0, 'done'} end
  run = r + 1
end
local ev = cjson.decode(ARGV[4])
ev['run'] = run
if run > maxRuns then
  redis.call('HSET', KEYS[1], idx, attempt .. ':' .. run .. ':1')
  ev['type'] = 'result'
  ev['outcome'] = 'failed'
  ev['exitCode'] = cjson.null
  ev['signal'] = cjson.null
  ev['pid'] = 0
  ev['endMs'] = ev['startMs']
  ev['message'] = 'its worker died ' .. (run - 1) .. ' times while running it; not trying again'
  redis.call('XADD', KEYS[3], '*', 'e', cjson.encode(ev))
  return {0, 'crashed'}
end
redis.call('HSET', KEYS[1], idx, attempt .. ':' .. run .. ':0')
redis.call('XADD', KEYS[3], '*', 'e', cjson.encode(ev))
return {1, run}
`;

/**
 * REPORT_RESULT
 * KEYS[1] fence hash, KEYS[2] events stream
 * ARGV[1] index, ARGV[2] attempt, ARGV[3] run, ARGV[4] result-event JSON
 * Returns 1 when accepted, 0 when refused (a newer run or attempt exists, or already reported).
 */
export const REPORT_RESULT_LUA = `
local f = redis.call('HGET', KEYS[1], ARGV[1])
if not f then return 0 end
if f ~= ARGV[2] .. ':' .. ARGV[3] .. ':0' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':1')
redis.call('XADD', KEYS[2], '*', 'e', ARGV[4])
return 1
`;

/** Re-deliveries of one attempt after which it is failed rather than run again. */
export const DEFAULT_MAX_RUNS_PER_ATTEMPT = 5;
