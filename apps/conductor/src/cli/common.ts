/** Options shared by the commands that read a spec (`expand`, `validate`, `run`). */
import { Option, type Command } from 'commander';

export interface SpecOptions {
  out?: string;
  pgen?: string;
  pargs: string[];
  hashws?: boolean;
  maxInstances?: number;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function positiveInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got '${value}'`);
    return n;
  };
}

export function addSpecOptions(cmd: Command, { out = true }: { out?: boolean } = {}): Command {
  if (out)
    cmd.option('-o, --out <dir>', 'study root, used as given (default: <OUTPUT_PATH or cwd>/<name>_<timestamp>)');
  return cmd
    .option(
      '-p, --pgen <file>',
      'parameter generator (Python pgen, JS/TS module or executable) replacing global.parameters',
    )
    .option('--pargs <key:value>', 'argument for the parameter generator (repeatable)', collect, [])
    .option('--hashws', 'name parameterized workspaces by the md5 of their labels')
    .addOption(
      new Option(
        '--max-instances <n>',
        'refuse studies with more step instances than this (default 2,000,000)',
      ).argParser(positiveInt('--max-instances')),
    );
}
