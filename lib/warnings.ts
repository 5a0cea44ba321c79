/** The `type` of every warning this package emits through `process.emitWarning`. */
export const WARNING_TYPE = 'KoaGenericSessionWarning';

/**
 * Shared through the global symbol registry, so the ESM and CommonJS copies of
 * this package (or two installed versions) still warn once per process.
 */
const WARNED = Symbol.for('koa-generic-session-ts.warned');

function warned(): Set<string> {
  const holder = globalThis as typeof globalThis & { [WARNED]?: Set<string> };
  return (holder[WARNED] ??= new Set<string>());
}

/**
 * `process.emitWarning(message)` with this package's type and `code`, the
 * first time `id` is seen in this process; later calls with the same id are
 * silent, so an app that builds its middleware per request is not flooded.
 */
export function warnOnce(code: string, id: string, message: string): void {
  const seen = warned();
  const key = code + '\u0000' + id;
  if (seen.has(key)) return;
  seen.add(key);
  process.emitWarning(message, { type: WARNING_TYPE, code });
}
