/**
 * Step walltimes, as Slurm's `--time` reads them (Maestro passes `walltime:` to `#SBATCH --time`
 * verbatim): "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S". A bare number is minutes.
 * "inf", "unlimited", "" and 0 mean no limit.
 */
export function parseWalltimeSeconds(value: string | number): number | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new WalltimeError(String(value));
    return value === 0 ? undefined : Math.round(value * 60);
  }
  const text = value.trim().toLowerCase();
  if (text === '' || text === 'inf' || text === 'infinite' || text === 'unlimited') return undefined;
  const m = /^(?:(\d+)-)?(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?(?::(\d+(?:\.\d+)?))?$/.exec(text);
  if (!m) throw new WalltimeError(value);
  const [, days, a, b, c] = m;
  const d = days === undefined ? 0 : Number(days);
  let seconds: number;
  if (days !== undefined) {
    // D-H, D-H:M, D-H:M:S
    seconds = d * 86400 + Number(a) * 3600 + Number(b ?? 0) * 60 + Number(c ?? 0);
  } else if (c !== undefined) {
    seconds = Number(a) * 3600 + Number(b) * 60 + Number(c);
  } else if (b !== undefined) {
    seconds = Number(a) * 60 + Number(b);
  } else {
    seconds = Number(a) * 60;
  }
  return seconds === 0 ? undefined : Math.round(seconds);
}

export class WalltimeError extends Error {
  override readonly name = 'WalltimeError';
  constructor(readonly value: string) {
    super(`'${value}' is not a walltime; write minutes (90), M:S, H:M:S (01:30:00) or D-H:M:S`);
  }
}

/** Seconds as Slurm's `--time` wants them: `[D-]HH:MM:SS`. */
export function formatWalltime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  let s = seconds - d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const p = (n: number): string => String(Math.floor(n)).padStart(2, '0');
  return `${d ? `${d}-` : ''}${p(h)}:${p(m)}:${p(s)}`;
}
