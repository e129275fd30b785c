/** Counts as people read them: `1 step instance`, `2 step instances`, `0 workers`. */
export function formatCount(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
