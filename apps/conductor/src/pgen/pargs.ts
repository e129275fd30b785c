import { PgenError, PgenErrorCode } from './errors.js';

/**
 * Parses repeated `--pargs KEY:VALUE` items into the keyword arguments of a generator.
 *
 * Like Maestro's `create_dictionary`, each item is split at the first `:` and both sides are
 * trimmed, so `--pargs "URL: http://x:8080"` gives `URL` = `http://x:8080`; a later item with
 * the same key wins. Throws a {@link PgenError} (`PGEN_BAD_PARGS`) for an item without `:` or
 * with an empty key.
 */
export function parsePargs(items: readonly string[]): Record<string, string> {
  // A Map, then fromEntries: a key like __proto__ must stay a plain key.
  const pargs = new Map<string, string>();
  for (const item of items) {
    const colon = item.indexOf(':');
    const key = colon < 0 ? '' : item.slice(0, colon).trim();
    if (colon < 0 || key === '') {
      const why = colon < 0 ? 'has no ":"' : 'has an empty key';
      throw new PgenError(
        PgenErrorCode.BadPargs,
        undefined,
        `--pargs ${JSON.stringify(item)} ${why}; expected KEY:VALUE (split at the first ":"), e.g. --pargs TRIALS:10`,
      );
    }
    pargs.set(key, item.slice(colon + 1).trim());
  }
  return Object.fromEntries(pargs);
}
