// Placeholder until the parameter-generator module lands (branch pgen).
import type { ParameterDef } from '@maestro/spec';
export function parsePargs(items: readonly string[]): Record<string, string> {
  return Object.fromEntries(items.map((i) => [i.slice(0, i.indexOf(':')), i.slice(i.indexOf(':') + 1)]));
}
export async function runParameterGenerator(
  file: string,
  _pargs: Readonly<Record<string, string>>,
  _ctx: unknown,
): Promise<ParameterDef[]> {
  throw new Error(`--pgen ${file}: parameter generators are not available yet`);
}
