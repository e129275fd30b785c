/**
 * Fencing: the Redis scripts through which a worker claims and reports a run. They make the
 * guarantees of the fault model hold (docs/reliability.md):
 *
 * - a run starts only if its attempt is the newest one seen (in the fence, and in the conductor's
 *   state record, which it writes whole again after Redis lost writes), the instance is not final
 *   and the study is not cancelled; a re-delivered attempt (its worker died or froze past the
 *   lock) gets the next run number;
 * - a result is accepted only from the newest run of the newest attempt, and only once; a frozen
 *   worker waking up after its job went elsewhere is refused;
 * - an attempt re-delivered more than `maxRuns` times (it keeps killing its workers) is failed
 *   instead of run again.
 *
 * Fence field `<index>` of `<p>:study:<id>:fence` holds `attempt:run:done` (done is 0 or 1).
 * Events go to the study's events stream as `e` = JSON; `started` events are written here, with
 * the run number the claim assigned: by the claim itself, or a moment later by ANNOUNCE_START
 * (a step that ends before then needs none: its result says when it started, and the conductor
 * wakes once for it instead of twice).
 */

/**
 * The two operations, as Lua functions that the scripts below call: a claim or a report alone,
 * or the report of one member of a bundle with the claim of the next in one round trip.
 *
 * claim(fence, study, events, state, lock, stalled, idx, attempt, maxRuns, startedJson, size,
 *       announce, token, durationMs, jobId)
 *   fence hash, study hash, events stream, packed state string; `lock` and `stalled` (the queue
 *   job's lock key and its queue's stalled set) are nil when there is no lock to check, and so
 *   are token, durationMs (ms) and jobId. `startedJson` is the started event without `run`,
 *   `size` the state record's size in bytes, `announce` '1' to write the started event now, '0'
 *   to leave it to ANNOUNCE_START.
 *   Returns {1, run} when claimed; {0, reason} when refused, reason one of 'lock' (the job's lock
 *   is no longer the caller's) | 'cancelled' | 'final' | 'stale' | 'done' | 'crashed' (a failed
 *   result was written).
 *   The lock is checked and extended in the same script as the claim (as BullMQ's extendLock
 *   does: token compare, new expiry, out of the stalled set), so no other worker can take the job
 *   between the check and the claim, and a step costs one round trip less.
 *
 * report(fence, events, idx, attempt, run, resultJson)
 *   Returns 1 when accepted, 0 when refused (a newer run or attempt exists, or already reported).
 *
 * announce(fence, events, idx, attempt, run, startedJson)
 *   The started event of a run claimed without one, written only while that run is in flight
 *   (the same test as report's). Returns 1 when written, 0 when not.
 */
const FENCE_FUNCTIONS = `
local function claim(fence, study, events, state, lock, stalled, idx, attempt, maxRuns, startedJson, size, announce, token, durationMs, jobId)
  attempt = tonumber(attempt)
  maxRuns = tonumber(maxRuns)
  size = tonumber(size)
  if lock then
    if redis.call('GET', lock) ~= token then return {0, 'lock'} end
    redis.call('SET', lock, token, 'PX', durationMs)
    redis.call('SREM', stalled, jobId)
  end
  if redis.call('HGET', study, 'cancelled') == '1' then return {0, 'cancelled'} end
  local off = tonumber(idx) * size
  local st = redis.call('GETRANGE', state, off, off + 7)
  if st ~= '' then
    local b = string.byte(st)
    if b == 5 or b == 7 or b == 10 or b == 12 then return {0, 'final'} end
    -- The conductor's attempt (u32 little-endian at byte 4): after a failover lost the fence's
    -- newer entry, the conductor's record, written whole again, still refuses an older job.
    if #st == 8 then
      local b5, b6, b7, b8 = string.byte(st, 5, 8)
      if b5 + b6 * 256 + b7 * 65536 + b8 * 16777216 > attempt then return {0, 'stale'} end
    end
  end
  local a, r, d = 0, 0, 0
  local f = redis.call('HGET', fence, idx)
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
  local ev = cjson.decode(startedJson)
  ev['run'] = run
  if run > maxRuns then
    redis.call('HSET', fence, idx, attempt .. ':' .. run .. ':1')
    ev['type'] = 'result'
    ev['outcome'] = 'failed'
    ev['exitCode'] = cjson.null
    ev['signal'] = cjson.null
    ev['pid'] = 0
    ev['endMs'] = ev['startMs']
    ev['message'] = 'its worker died ' .. (run - 1) .. ' times while running it; not trying again'
    redis.call('XADD', events, '*', 'e', cjson.encode(ev))
    return {0, 'crashed'}
  end
  redis.call('HSET', fence, idx, attempt .. ':' .. run .. ':0')
  if announce == '1' then redis.call('XADD', events, '*', 'e', cjson.encode(ev)) end
  return {1, run}
end

local function inFlight(fence, idx, attempt, run)
  return redis.call('HGET', fence, idx) == attempt .. ':' .. run .. ':0'
end

local function report(fence, events, idx, attempt, run, resultJson)
  if not inFlight(fence, idx, attempt, run) then return 0 end
  redis.call('HSET', fence, idx, attempt .. ':' .. run .. ':1')
  redis.call('XADD', events, '*', 'e', resultJson)
  return 1
end

local function announce(fence, events, idx, attempt, run, startedJson)
  if not inFlight(fence, idx, attempt, run) then return 0 end
  redis.call('XADD', events, '*', 'e', startedJson)
  return 1
end
`;

/**
 * CLAIM_RUN
 * KEYS[1] fence hash, KEYS[2] study hash, KEYS[3] events stream, KEYS[4] packed state string,
 * optionally KEYS[5] the queue job's lock, KEYS[6] its queue's stalled set
 * ARGV[1] index, ARGV[2] attempt, ARGV[3] maxRuns, ARGV[4] started-event JSON template (without
 *         `run`), ARGV[5] record size in bytes, ARGV[6] announce ('1' or '0'); with the lock:
 *         ARGV[7] lock token, ARGV[8] lock duration (ms), ARGV[9] job id
 * Returns what claim() returns.
 */
export const CLAIM_RUN_LUA = `${FENCE_FUNCTIONS}
return claim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6],
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
`;

/**
 * ANNOUNCE_START: what announce() does (a late timer never announces a run that ended or was
 * replaced).
 * KEYS[1] fence hash, KEYS[2] events stream
 * ARGV[1] index, ARGV[2] attempt, ARGV[3] run, ARGV[4] started-event JSON (with `run`)
 * Returns 1 when written, 0 when not.
 */
export const ANNOUNCE_START_LUA = `${FENCE_FUNCTIONS}
return announce(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`;

/**
 * REPORT_RESULT
 * KEYS[1] fence hash, KEYS[2] events stream
 * ARGV[1] index, ARGV[2] attempt, ARGV[3] run, ARGV[4] result-event JSON
 * Returns what report() returns.
 */
export const REPORT_RESULT_LUA = `${FENCE_FUNCTIONS}
return report(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`;

/**
 * REPORT_AND_CLAIM: the result of one member of a bundle and the claim of the next, in one
 * round trip (a bundle's members run one after the other in one slot).
 * KEYS as CLAIM_RUN's.
 * ARGV[1] reported index, ARGV[2] its attempt, ARGV[3] its run, ARGV[4] result-event JSON,
 * ARGV[5..] as CLAIM_RUN's ARGV[1..] for the member to claim.
 * Returns {accepted (0 or 1), then what claim() returns}. The claim is tried whatever became of
 * the report: a refused result (a newer run exists) says nothing about the next member.
 */
export const REPORT_AND_CLAIM_LUA = `${FENCE_FUNCTIONS}
local accepted = report(KEYS[1], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
local c = claim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6],
  ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13])
return {accepted, c[1], c[2]}
`;

/** Re-deliveries of one attempt after which it is failed rather than run again. */
export const DEFAULT_MAX_RUNS_PER_ATTEMPT = 5;
