/**
 * Batch scripts and the command lines that submit them: pure, values in, text out. The templates
 * live in deploy/ (one per scheduler, `{{field}}` placeholders, env vars in, no logic); a site may
 * use its own copy (--template).
 *
 * Flux (as flux-core 0.88 takes it): `flux batch -N N -t 120m [-q QUEUE]
 * [--setattr=system.bank=B] script.sh`, with the same settings as `# flux:` directives in the
 * script, so that `flux batch script.sh` alone submits it again.
 */
import { formatWalltime, type SchedulerName } from '@maestro/protocol';

export interface ScriptRequest {
  readonly scheduler: SchedulerName;
  readonly jobName: string;
  readonly nodes: number;
  readonly walltimeSeconds?: number | undefined;
  /** Slurm partition / Flux queue. */
  readonly partition?: string | undefined;
  /** Slurm account / Flux bank. */
  readonly account?: string | undefined;
  readonly reservation?: string | undefined;
  readonly qos?: string | undefined;
  readonly gpusPerNode?: number | undefined;
  /** Raw scheduler flags, as one directive line. */
  readonly extra?: string | undefined;
  /** Where the scheduler writes the batch job's output (a pattern with %j / {{id}}). */
  readonly output: string;
  /** Exported at the top of the script, for the workers. */
  readonly env: Readonly<Record<string, string>>;
}

export interface Command {
  readonly file: string;
  readonly args: readonly string[];
}

/** Fills a template; every placeholder must be known (a typo in a site's template is an error). */
export function renderScript(template: string, r: ScriptRequest): string {
  const fields: Record<string, string> = {
    job_name: r.jobName,
    nodes: String(r.nodes),
    output: r.output,
    directives: directives(r).join('\n'),
    exports: Object.entries(r.env)
      .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
      .join('\n'),
  };
  const rendered = template.replace(/\{\{\s*(\w+)\s*\}\}/g, (token: string, name: string) => {
    const value = fields[name];
    if (value === undefined) {
      throw new TemplateError(`unknown field ${token} in the template; known: ${Object.keys(fields).join(', ')}`);
    }
    return value;
  });
  // An optional block left empty leaves no blank line run behind.
  return rendered.replace(/\n{3,}/g, '\n\n');
}

/** The scheduler directives for what the request sets beyond name, nodes and output. */
function directives(r: ScriptRequest): string[] {
  switch (r.scheduler) {
    case 'slurm': {
      const d = ['--exclusive'];
      if (r.walltimeSeconds !== undefined) d.push(`--time=${formatWalltime(r.walltimeSeconds)}`);
      if (r.partition) d.push(`--partition=${r.partition}`);
      if (r.account) d.push(`--account=${r.account}`);
      if (r.reservation) d.push(`--reservation=${r.reservation}`);
      if (r.qos) d.push(`--qos=${r.qos}`);
      if (r.gpusPerNode) d.push(`--gpus-per-node=${r.gpusPerNode}`);
      if (r.extra) d.push(r.extra);
      return d.map((x) => `#SBATCH ${x}`);
    }
    case 'flux': {
      const d: string[] = [];
      if (r.walltimeSeconds !== undefined) d.push(`-t ${fluxDuration(r.walltimeSeconds)}`);
      if (r.partition) d.push(`-q ${r.partition}`);
      if (r.account) d.push(`--setattr=system.bank=${r.account}`);
      if (r.gpusPerNode) d.push(`--gpus-per-node=${r.gpusPerNode}`);
      if (r.extra) d.push(r.extra);
      return d.map((x) => `# flux: ${x}`);
    }
    case 'local':
      return [];
    default: {
      const never: never = r.scheduler;
      return never;
    }
  }
}

/** The command that submits the written script. */
export function submitCommand(r: ScriptRequest, scriptPath: string): Command {
  switch (r.scheduler) {
    case 'slurm':
      // Every setting is in the script: `sbatch script` alone submits it again.
      return { file: 'sbatch', args: ['--parsable', scriptPath] };
    case 'flux': {
      const args = ['batch', '-N', String(r.nodes)];
      if (r.walltimeSeconds !== undefined) args.push('-t', fluxDuration(r.walltimeSeconds));
      if (r.partition) args.push('-q', r.partition);
      if (r.account) args.push(`--setattr=system.bank=${r.account}`);
      return { file: 'flux', args: [...args, scriptPath] };
    }
    case 'local':
      return { file: 'bash', args: [scriptPath] };
    default: {
      const never: never = r.scheduler;
      return never;
    }
  }
}

/** Flux Standard Duration: whole minutes as `120m`, else seconds. */
export function fluxDuration(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/** `'text'`, with single quotes escaped: safe for any value in a shell script. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}
