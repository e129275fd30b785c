/**
 * Failures by parameter (`maestro status --by-param`): for each parameter and value, how its
 * instances fared and how long the finished ones ran, and, first, the values whose failure rate
 * stands out from the rest of that parameter's instances ("all 12 failures have MESH=fine").
 * Read from status.csv alone, so it works while a study runs, after it, and without Redis.
 *
 * A value stands out when it has at least two failures and a two-proportion z-score of at least
 * 2 against the other values of its parameter: enough to name a real pattern in a study of a few
 * dozen instances without naming noise in a big one. Maestro zips parameters, so values of two
 * parameters often cover the same instances; such values are reported together, as one finding.
 */
import type { StatusCsvRow } from '@maestro/protocol';
import { formatDuration } from './duration.js';

export interface ValueStats {
  readonly value: string;
  readonly instances: number;
  readonly finished: number;
  /** FAILED and TIMEDOUT. */
  readonly failed: number;
  /** Queued, running or waiting to. */
  readonly active: number;
  /** CANCELLED and anything else that ended without a result. */
  readonly other: number;
  /** Median `Run Time` of the finished instances, in seconds (whole seconds, as status.csv has them). */
  readonly medianRunSeconds: number | null;
}

export interface Standout {
  readonly param: string;
  readonly value: string;
  /** Other `PARAM=value`s that hold exactly the same instances. */
  readonly sameInstances: readonly string[];
  readonly failed: number;
  /** Of this value's instances that ended. */
  readonly ended: number;
  /** The other values of the same parameter. */
  readonly restFailed: number;
  readonly restEnded: number;
  /** Of the study's failures, how many this value has. */
  readonly totalFailed: number;
  /** Steps where its failures happened. */
  readonly steps: readonly string[];
  readonly zScore: number;
}

export interface ByParamReport {
  readonly instances: number;
  /** Instances that have at least one parameter. */
  readonly withParams: number;
  readonly failed: number;
  /** Most telling first. */
  readonly standouts: readonly Standout[];
  /** Per parameter, its values, most failing first. */
  readonly params: Readonly<Record<string, readonly ValueStats[]>>;
}

const FAILED_STATES = new Set(['FAILED', 'TIMEDOUT']);
const ACTIVE_STATES = new Set(['INITIALIZED', 'PENDING', 'WAITING', 'RUNNING', 'FINISHING', 'QUEUED', 'PREEMPTED']);
const MIN_FAILURES = 2;
const MIN_Z = 2;

interface Tally {
  count: number;
  /** Two running hashes of the instance numbers: equal for values that cover the same instances. */
  hashA: number;
  hashB: number;
  finished: number;
  failed: number;
  active: number;
  other: number;
  runSeconds: number[];
  failedSteps: Set<string>;
}

/** One instance as the analysis needs it, from status.csv or from the study's records. */
export interface ParamSample {
  readonly step: string;
  /** A step state name (FINISHED, FAILED, ...). */
  readonly state: string;
  readonly params: Iterable<readonly [string, string]>;
  /** How long it ran, for FINISHED ones. */
  readonly runSeconds: number | undefined;
}

/** The instances of a status.csv. */
export function* samplesFromStatusRows(rows: readonly StatusCsvRow[]): Generator<ParamSample> {
  for (const row of rows) {
    yield {
      step: stepOf(row),
      state: row.State,
      params: parseParams(row.Params),
      runSeconds: parseRunTime(row['Run Time']),
    };
  }
}

export function analyseByParam(samples: Iterable<ParamSample>): ByParamReport {
  const tallies = new Map<string, Map<string, Tally>>();
  let instances = 0;
  let withParams = 0;
  let failed = 0;
  for (const sample of samples) {
    const index = instances++;
    const isFailed = FAILED_STATES.has(sample.state);
    if (isFailed) failed++;
    let hasParams = false;
    for (const [param, value] of sample.params) {
      hasParams = true;
      let values = tallies.get(param);
      if (!values) tallies.set(param, (values = new Map()));
      let t = values.get(value);
      if (!t) {
        t = {
          count: 0,
          hashA: 0,
          hashB: 0,
          finished: 0,
          failed: 0,
          active: 0,
          other: 0,
          runSeconds: [],
          failedSteps: new Set(),
        };
        values.set(value, t);
      }
      t.count++;
      t.hashA = (Math.imul(t.hashA ^ index, 0x9e3779b1) + 0x7f4a7c15) | 0;
      t.hashB = (Math.imul(t.hashB + index, 0x85ebca6b) ^ (t.hashB >>> 13)) | 0;
      if (sample.state === 'FINISHED') {
        t.finished++;
        if (sample.runSeconds !== undefined) t.runSeconds.push(sample.runSeconds);
      } else if (isFailed) {
        t.failed++;
        t.failedSteps.add(sample.step);
      } else if (ACTIVE_STATES.has(sample.state)) t.active++;
      else t.other++;
    }
    if (hasParams) withParams++;
  }

  const params: Record<string, ValueStats[]> = {};
  const candidates: Standout[] = [];
  const signatures = new Map<string, string>(); // PARAM=value -> a digest of its instances, for grouping
  for (const [param, values] of [...tallies].sort(([a], [b]) => a.localeCompare(b))) {
    let paramFailed = 0;
    let paramEnded = 0;
    for (const t of values.values()) {
      paramFailed += t.failed;
      paramEnded += t.finished + t.failed;
    }
    const stats: ValueStats[] = [];
    for (const [value, t] of values) {
      stats.push({
        value,
        instances: t.count,
        finished: t.finished,
        failed: t.failed,
        active: t.active,
        other: t.other,
        medianRunSeconds: median(t.runSeconds),
      });
      signatures.set(`${param}=${value}`, `${t.count}:${t.hashA}:${t.hashB}`);
      const ended = t.finished + t.failed;
      const restFailed = paramFailed - t.failed;
      const restEnded = paramEnded - ended;
      const z = zScore(t.failed, ended, restFailed, restEnded);
      if (t.failed >= MIN_FAILURES && z >= MIN_Z) {
        candidates.push({
          param,
          value,
          sameInstances: [],
          failed: t.failed,
          ended,
          restFailed,
          restEnded,
          totalFailed: failed,
          steps: [...t.failedSteps].sort(),
          zScore: z,
        });
      }
    }
    params[param] = stats.sort((a, b) => rate(b) - rate(a) || b.failed - a.failed || compareValues(a.value, b.value));
  }
  return { instances, withParams, failed, standouts: groupSame(candidates, signatures), params };
}

/** One finding per set of instances: values that cover the same instances are one pattern. */
function groupSame(candidates: Standout[], signatures: ReadonlyMap<string, string>): Standout[] {
  candidates.sort(
    (a, b) =>
      b.failed - a.failed || b.zScore - a.zScore || a.param.localeCompare(b.param) || compareValues(a.value, b.value),
  );
  const kept: Standout[] = [];
  const bySignature = new Map<string, number>();
  for (const c of candidates) {
    const sig = signatures.get(`${c.param}=${c.value}`)!;
    const k = bySignature.get(sig);
    if (k === undefined) {
      bySignature.set(sig, kept.length);
      kept.push(c);
    } else {
      const first = kept[k]!;
      kept[k] = { ...first, sameInstances: [...first.sameInstances, `${c.param}=${c.value}`] };
    }
  }
  return kept;
}

/** The step an instance belongs to: its workspace's first folder (`run-lulesh/SIZE.10`). */
function stepOf(row: StatusCsvRow): string {
  return row.Workspace.split('/')[0] || row['Step Name'];
}

/** Two-proportion z-score of `f1/n1` above `f2/n2` (pooled); 0 when either side is empty. */
function zScore(f1: number, n1: number, f2: number, n2: number): number {
  if (n1 === 0 || n2 === 0) return 0;
  const p = (f1 + f2) / (n1 + n2);
  if (p === 0 || p === 1) return 0;
  return (f1 / n1 - f2 / n2) / Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
}

const rate = (s: ValueStats): number => (s.finished + s.failed ? s.failed / (s.finished + s.failed) : 0);

/** Numbers in numeric order (`2` before `10`), the rest as text. */
function compareValues(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  return a.trim() !== '' && b.trim() !== '' && Number.isFinite(x) && Number.isFinite(y) ? x - y : a.localeCompare(b);
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * status.csv's `P:v;Q:w` (keys sorted). A value may itself hold `;`: a piece without a `:` belongs
 * to the value before it.
 */
export function parseParams(text: string): [string, string][] {
  const out: [string, string][] = [];
  if (!text) return out;
  for (const piece of text.split(';')) {
    const colon = piece.indexOf(':');
    const last = out[out.length - 1];
    if (colon <= 0 && last) last[1] += `;${piece}`;
    else if (colon > 0) out.push([piece.slice(0, colon), piece.slice(colon + 1)]);
  }
  return out;
}

/** Maestro's `0d:00h:00m:01s` in seconds; undefined for `--`. */
export function parseRunTime(text: string): number | undefined {
  const m = /^(\d+)d:(\d+)h:(\d+)m:(\d+)s$/.exec(text);
  return m ? Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]) : undefined;
}

/** `MESH=fine` and what goes with it. */
function named(s: Standout): string {
  const same = s.sameInstances.length ? ` (with ${s.sameInstances.join(', ')}, which cover the same instances)` : '';
  return `${s.param}=${s.value}${same}`;
}

/** One sentence per finding: how many of the failures the value has, and its rate against the rest. */
export function describeStandout(s: Standout): string {
  const share =
    s.failed === s.totalFailed
      ? `all ${s.totalFailed} failures have ${named(s)}`
      : `${s.failed} of ${s.totalFailed} failures have ${named(s)}`;
  const where = s.steps.length ? ` in ${s.steps.join(', ')}` : '';
  const rest = s.restEnded
    ? `${s.restFailed} of the ${s.restEnded} with other ${s.param} values`
    : `no other ${s.param} value has ended`;
  return `${share}${where}: ${s.failed} of its ${s.ended} ended instances failed, against ${rest}`;
}

export interface ByParamStyle {
  bold(text: string): string;
  state(state: string, text?: string): string;
}

/** The report as text lines: the findings first, then a table per parameter. */
export function formatByParam(report: ByParamReport, style: ByParamStyle): string[] {
  if (!report.withParams) return ['No instance of this study has parameters.'];
  const lines: string[] = [];
  if (report.standouts.length) {
    for (const s of report.standouts) lines.push(style.state('FAILED', `! ${describeStandout(s)}`));
  } else if (report.failed) {
    lines.push(`No parameter value stands out: the ${report.failed} failures are spread over the values.`);
  } else {
    lines.push('No failures.');
  }
  const header = ['instances', 'finished', 'failed', 'active', 'other', 'median run'];
  for (const [param, values] of Object.entries(report.params)) {
    const cells = values.map((v) => [
      v.value,
      String(v.instances),
      String(v.finished),
      String(v.failed),
      String(v.active),
      String(v.other),
      v.medianRunSeconds === null ? '--' : formatDuration(v.medianRunSeconds * 1000),
    ]);
    const widths = [param, ...header].map((h, k) => Math.max(h.length, ...cells.map((c) => c[k]!.length)));
    const row = (c: string[]): string =>
      c.map((x, k) => (k === 0 ? x.padEnd(widths[0]!) : x.padStart(widths[k]!))).join('  ');
    lines.push('', style.bold(row([param, ...header])));
    for (const c of cells) lines.push(Number(c[3]) ? style.state('FAILED', row(c)) : row(c));
  }
  return lines;
}
