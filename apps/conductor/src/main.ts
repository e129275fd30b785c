/**
 * `maestro`: the command line of the conductor. This file owns the process: arguments, exit
 * codes, and turning errors into messages (no stack traces for problems the user can fix).
 */
import { Command, Option } from 'commander';
import {
  addAllocationOptions,
  addAutoscaleOptions,
  addExecutionOptions,
  addRedisOptions,
  addSpecOptions,
  durationOption,
  endOnClosedPipe,
  wholeNumber,
} from './cli/index.js';
import { AUTH_ENV } from './dashboard/settings.js';
import { StudyRootError } from './study/root.js';
import { startEarlyWorkers } from './run/local-workers.js';

// Each command's module is loaded when that command runs: together they take about half a
// second to load (bull-board, BullMQ, the spec's schemas), more than most commands then take.
const cli = {
  expand: () => import('./cli/expand.js'),
  validate: () => import('./cli/validate.js'),
  run: () => import('./cli/run.js'),
  resume: () => import('./cli/resume.js'),
  status: () => import('./cli/status.js'),
  control: () => import('./cli/control.js'),
  dashboard: () => import('./cli/dashboard.js'),
  workers: () => import('./cli/workers.js'),
};

const VERSION = '0.1.0';

/** Maestro's single-dash `-fg` is not a valid option cluster for commander: spell it `--fg`. */
function normaliseArgv(argv: readonly string[]): string[] {
  return argv.map((a) => (a === '-fg' ? '--fg' : a));
}

type SetExit = (code: number) => void;

function buildProgram(setExit: SetExit): Command {
  const program = new Command('maestro')
    .description('Run Maestro study specifications on HPC clusters through Redis and pull-based workers.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)');

  addSpecCommands(program, setExit);
  addRunCommands(program, setExit);
  addStatusCommand(program, setExit);
  addControlCommands(program, setExit);
  addDashboardCommand(program, setExit);
  addWorkersCommands(program, setExit);
  return program;
}

/** `expand` and `validate`: a spec read, nothing run. */
function addSpecCommands(program: Command, setExit: SetExit): void {
  addSpecOptions(
    program
      .command('expand')
      .description('expand a study into its step instances without running anything')
      .argument('<spec>', 'study specification (YAML)')
      .option('--json', 'print {"name","root","steps":[...]} for tools and tests')
      .option('--full', "print each instance's whole command (default: its first line, cut to fit)"),
  ).action(async (spec: string, options) =>
    setExit(await (await cli.expand()).expandCommand(spec, options, process.stdout, process.stderr)),
  );

  addSpecOptions(
    program
      .command('validate')
      .description('check a study specification and report every problem')
      .argument('<spec>', 'study specification (YAML)'),
    { out: false },
  ).action(async (spec: string, options) =>
    setExit(await (await cli.validate()).validateCommand(spec, options, process.stdout, process.stderr)),
  );
}

/** `run` and `resume`: a study conducted in this process (or detached). */
function addRunCommands(program: Command, setExit: SetExit): void {
  addAutoscaleOptions(
    addRedisOptions(
      addExecutionOptions(
        addSpecOptions(
          program
            .command('run')
            .description('create the study folder and run the study')
            .argument('<spec>', 'study specification (YAML)')
            .option('--dry', 'write every workspace and script, run nothing')
            .option('--detach', 'run the conductor in the background (its log in the study folder) and return')
            .option('-y, --autoyes', 'answer yes: replace an earlier study at -o DIR')
            .option('-n, --autono', 'answer no: never replace an existing study')
            .addOption(
              new Option(
                '--fg',
                'accepted for compatibility: the study runs in the foreground unless --detach',
              ).hideHelp(),
            ),
        ),
      ),
    ),
  ).action(async (spec: string, options) => {
    // Before the run command's modules load: a worker's start is what a small study waits for.
    const early = startEarlyWorkers(options);
    const opts = { ...options, yes: options.autoyes, no: options.autono };
    const run = await cli.run().catch((error: unknown) => {
      early?.abandon(); // runCommand gives them up from here on
      throw error;
    });
    setExit(await run.runCommand(spec, opts, process.stdout, process.stderr, early));
  });

  addAutoscaleOptions(
    addRedisOptions(
      addExecutionOptions(
        program
          .command('resume')
          .description('continue a study after its conductor stopped or died: finished steps do not run again')
          .argument('<study_dir>', 'the study folder'),
      ),
    ),
  ).action(async (dir: string, options) =>
    setExit(await (await cli.resume()).resumeCommand(dir, options, process.stdout, process.stderr)),
  );
}

/** `status`: read from the study folder, with or without a running conductor. */
function addStatusCommand(program: Command, setExit: SetExit): void {
  program
    .command('status')
    .description("a study's status table (works while it runs and after)")
    .argument('<study_dir...>', 'study folders')
    .option('--json', 'machine-readable output')
    .addOption(
      new Option('--layout <layout>', 'flat (a table), or narrow (a card per instance, with parameters)')
        .choices(['flat', 'narrow'])
        .default('flat'),
    )
    .option('--failed', 'only failed and timed-out instances, with the end of their error output')
    .addOption(
      new Option(
        '--by-param',
        'failures by parameter value: the values that stand out first, then counts per value',
      ).conflicts(['watch', 'failed', 'layout']),
    )
    .addOption(
      new Option('--tail <lines>', 'lines of error output per failed instance')
        .default(10)
        .argParser(wholeNumber('--tail', 1)),
    )
    .option('-w, --watch', 'redraw in place until the study ends (Ctrl-C stops)')
    .addOption(
      new Option('--interval <duration>', 'time between redraws with --watch')
        .default(2000, '2s')
        .argParser(durationOption('--interval')),
    )
    .addOption(
      new Option('--color <when>', 'colour the states: auto (on a terminal), always, never')
        .choices(['auto', 'always', 'never'])
        .default('auto'),
    )
    .addOption(new Option('--disable-theme', 'no colour (the original maestro flag)').hideHelp())
    .action(async (dirs: string[], options) =>
      setExit(await (await cli.status()).statusCommand(dirs, options, process.stdout)),
    );
}

/** `cancel` and `update`: requests to the conductor of a running study. */
function addControlCommands(program: Command, setExit: SetExit): void {
  addRedisOptions(
    program
      .command('cancel')
      .description('stop the running steps of a study and run nothing more')
      .argument('<study_dir...>', 'study folders'),
  ).action(async (dirs: string[], options) =>
    setExit(await (await cli.control()).cancelCommand(dirs, options, process.stdout)),
  );

  addRedisOptions(
    program
      .command('update')
      .description('change the limits of a running study')
      .argument('<study_dir...>', 'study folders')
      .addOption(
        new Option('-t, --throttle <n>', 'most steps queued or running at once (0 = unlimited)').argParser(
          wholeNumber('--throttle'),
        ),
      )
      .addOption(
        new Option('-r, --rlimit <n>', 'restarts after a timeout (0 = unlimited)').argParser(wholeNumber('--rlimit')),
      ),
  ).action(async (dirs: string[], options) =>
    setExit(await (await cli.control()).updateCommand(dirs, options, process.stdout)),
  );
}

/** `dashboard`: the study view and bull-board, until interrupted. */
function addDashboardCommand(program: Command, setExit: SetExit): void {
  addRedisOptions(
    program
      .command('dashboard')
      .description('serve the study view and bull-board over the queues of a Redis, until interrupted')
      .argument('[study_dir]', 'show this study: from its Redis (its own, or --redis), else from its folder')
      .addOption(
        new Option('--port <port>', 'TCP port (0 = any free one)').default(3000).argParser(wholeNumber('--port')),
      )
      .option('--host <address>', 'address to listen on; anything but loopback requires --auth', '127.0.0.1')
      .option('--auth <user:password>', `HTTP basic credentials every request must carry (default: ${AUTH_ENV})`)
      .option('--auth-file <file>', 'read user:password from this file instead')
      .option('--allow-actions', 'let bull-board retry, clean, remove and pause jobs (default: read-only)')
      .option('--prefix <prefix>', "key prefix of the deployment (default: maestro, or the study's)"),
  ).action(async (dir: string | undefined, options) =>
    setExit(await (await cli.dashboard()).dashboardCommand(dir, options, process.stdout, process.stderr)),
  );
}

/** `workers launch|list|stop|release`: allocations of workers, the workers in them, quarantined hosts. */
function addWorkersCommands(program: Command, setExit: SetExit): void {
  const workers = program
    .command('workers')
    .description('allocations of maestro-worker processes in Slurm or Flux (or on this machine)');
  const fleetOptions = (cmd: Command): Command =>
    addRedisOptions(
      cmd
        .option(
          '--study <study_dir>',
          "the study whose Redis and prefix to use (its spec's batch block gives defaults)",
        )
        .option('--prefix <prefix>', "key prefix in a shared Redis (default: the study's, else maestro)"),
    );
  addAllocationOptions(
    fleetOptions(
      workers
        .command('launch')
        .description('submit an allocation running one worker per node; it is recorded in Redis')
        .option('-o, --out <dir>', 'folder of the batch script and its output (default: <study>/workers)')
        .option('--dry', 'print the batch script and the submit command; submit nothing')
        .option(
          '--group <name>',
          "a worker group of the spec (merlin.resources.workers): its steps' queues, nodes and batch settings (needs --study)",
        ),
    ),
  ).action(async (options) =>
    setExit(await (await cli.workers()).workersLaunchCommand(options, process.stdout, process.stderr)),
  );
  fleetOptions(
    workers
      .command('list')
      .description('allocations maestro submitted and live workers: host, state, time left, steps running and done')
      .option('--json', 'machine-readable output')
      .option('--all', 'also allocations that ended more than an hour ago'),
  ).action(async (options) => setExit(await (await cli.workers()).workersListCommand(options, process.stdout)));
  fleetOptions(
    workers
      .command('release')
      .argument('<host>', 'a host the study quarantined (see workers list --study)')
      .description("end a bad-node quarantine: the host's workers may take the study's steps again (needs --study)"),
  ).action(async (host: string, options) =>
    setExit(await (await cli.workers()).workersReleaseCommand(host, options, process.stdout)),
  );
  fleetOptions(
    workers
      .command('stop')
      .description('drain workers: running steps finish, then they exit and their allocations end')
      .option(
        '--allocation <id>',
        'only this allocation (repeatable; default: all of them)',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option('--now', 'cancel the allocations now (scancel, flux cancel): running steps are handed back'),
  ).action(async (options) => setExit(await (await cli.workers()).workersStopCommand(options, process.stdout)));
}

async function main(): Promise<void> {
  for (const stream of [process.stdout, process.stderr]) endOnClosedPipe(stream);
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(normaliseArgv(process.argv));
  } catch (err) {
    exitCode = await reportError(err);
  }
  process.exitCode = exitCode;
  // The command has returned; what still holds the event loop a while later waits for a Redis
  // that is gone (a study stopped because its Redis died: the home worker's BullMQ connection
  // retries it for ever) and must not keep the command from ending.
  setTimeout(() => process.exit(), LINGER_MS).unref();
}

/** How long the process may outlive its command's return. */
const LINGER_MS = 5_000;

async function reportError(err: unknown): Promise<number> {
  const { isSpecError } = await import('@maestro/spec');
  if (isSpecError(err)) {
    const { printProblems } = await import('./cli/print-problems.js');
    printProblems(err.problems, (l) => process.stderr.write(`${l}\n`));
    return 1;
  }
  const known = [
    'PgenError',
    'StudyRootError',
    'RedisServerMissingError',
    'RedisServerStartError',
    'RedisConnectionError',
    'StudyBusyError',
    'StudyStoppedError',
    'ConductorBusyError',
    'StudyNotRunningError',
    'LeaseLostError',
    'WalltimeError',
    'DashboardError',
    'AllocationError',
    'GitDependencyError',
  ];
  if (err instanceof StudyRootError || (err instanceof Error && known.includes(err.name))) {
    process.stderr.write(`maestro: ${err.message}\n`);
    return 1;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`maestro: ${e.message}\n`);
  if (process.env['MAESTRO_DEBUG']) process.stderr.write(`${e.stack ?? ''}\n`);
  return 1;
}

// Not a top-level await: the bundle for Node 20 is CommonJS (apps/conductor/bundle.mjs). main()
// turns every error into a message and an exit code; what would escape it still ends the process.
void main();
