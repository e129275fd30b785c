/**
 * Settings of the dashboard server (`maestro dashboard`, `maestro run --dashboard`): one zod
 * schema owns every default and check, and the safety rules live here, before anything listens:
 * a non-loopback address needs credentials, and queue-changing actions are off unless asked for.
 */
import { z } from 'zod';

export const DashboardErrorCode = {
  /** Asked to listen beyond this machine without credentials. */
  AuthRequired: 'DASHBOARD_AUTH_REQUIRED',
  /** A setting is malformed (`--auth` without a colon, a port out of range...). */
  Invalid: 'DASHBOARD_INVALID',
  /** The port is taken or the address cannot be bound. */
  Listen: 'DASHBOARD_LISTEN',
} as const;
export type DashboardErrorCode = (typeof DashboardErrorCode)[keyof typeof DashboardErrorCode];

export class DashboardError extends Error {
  override readonly name = 'DashboardError';
  readonly code: DashboardErrorCode;
  constructor(code: DashboardErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The environment variable that may hold `user:password` instead of `--auth`. */
export const AUTH_ENV = 'MAESTRO_DASHBOARD_AUTH';

const Credentials = z
  .string()
  .regex(/^[^:]+:.+$/, 'must be user:password, both non-empty')
  .transform((s) => {
    const k = s.indexOf(':');
    return { user: s.slice(0, k), password: s.slice(k + 1) };
  });

export const DashboardSettings = z.object({
  /** Address to listen on. Anything but loopback needs `auth`. @default '127.0.0.1' */
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free one (printed at start). @default 3000 */
  port: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must be from 0 to 65535')
    .max(65535, 'must be from 0 to 65535')
    .default(3000),
  /** HTTP basic credentials; when set, every request needs them, on any address. */
  auth: Credentials.optional(),
  /** Let bull-board retry, clean, remove, pause and add jobs. @default false (read-only) */
  allowActions: z.boolean().default(false),
  /** Key prefix of the maestro deployment in Redis. @default 'maestro' */
  prefix: z
    .string()
    .regex(/^[^:\s]+$/, 'must not contain ":" or spaces')
    .default('maestro'),
});
export type DashboardSettingsInput = z.input<typeof DashboardSettings>;
export type DashboardSettings = z.output<typeof DashboardSettings>;

/** Loopback names and addresses: reachable only from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/** Checks and resolves the settings; throws a DashboardError listing every problem. */
export function resolveDashboardSettings(input: DashboardSettingsInput): Readonly<DashboardSettings> {
  const r = DashboardSettings.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `--${flagName(String(i.path[0] ?? ''))}: ${i.message}`);
    throw new DashboardError(DashboardErrorCode.Invalid, problems.join('; '));
  }
  const s = r.data;
  if (!isLoopback(s.host) && !s.auth) {
    throw new DashboardError(
      DashboardErrorCode.AuthRequired,
      `refusing to serve the dashboard on ${s.host} without credentials: anyone who can reach that address ` +
        `could read every study. Give credentials (--auth-file FILE holding user:password, ${AUTH_ENV}, ` +
        `or --auth user:password), or keep the default --host 127.0.0.1 and reach it through an SSH tunnel ` +
        `(ssh -L 3000:127.0.0.1:3000 HOST)`,
    );
  }
  return Object.freeze(s);
}

function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
