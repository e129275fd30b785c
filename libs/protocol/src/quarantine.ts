/**
 * The stored form of a study's bad-node quarantines (StudyRecordField.quarantine). Producer: the
 * conductor (and `maestro workers release` when none runs). Consumers: a resumed conductor,
 * `maestro workers list`, the dashboard. Each entry is the evidence as it stood when the host was
 * quarantined.
 */
import { z } from 'zod';

const count = z.number().int().nonnegative().catch(0);

export const QuarantineEvidence = z.object({
  host: z.string().min(1),
  /** Failed runs on the host, and of those the ones on steps that succeeded on another host. */
  failures: count,
  failuresOnStepsOkElsewhere: count,
  /** Runs on the host that ended succeeded or failed. */
  runs: count,
  /** The same over the rest of the fleet (quarantined hosts left out). */
  failuresElsewhere: count,
  runsElsewhere: count,
  /** When it was quarantined, epoch ms. */
  sinceMs: z.number().nonnegative().catch(0),
});
export type QuarantineEvidence = z.output<typeof QuarantineEvidence>;

/** The entries of the field that parse; another version's leftovers are dropped, not fatal. */
export function parseQuarantines(json: string | undefined): QuarantineEvidence[] {
  if (!json) return [];
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(v)) return [];
  return v.flatMap((e: unknown) => {
    const r = QuarantineEvidence.safeParse(e);
    return r.success ? [r.data] : [];
  });
}
