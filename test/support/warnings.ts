/** A warning this package emitted (`process.emitWarning` with its type). */
export interface PackageWarning {
  name: string;
  code: string | undefined;
  message: string;
}

/**
 * The package's warnings emitted while `fn` runs (and its promise settles):
 * emitWarning delivers on the next tick, so this waits one turn after.
 */
export async function warningsDuring(fn: () => unknown): Promise<PackageWarning[]> {
  const seen: PackageWarning[] = [];
  const listener = (warning: Error & { code?: string }): void => {
    if (warning.name === 'KoaGenericSessionWarning') seen.push({ name: warning.name, code: warning.code, message: warning.message });
  };
  process.on('warning', listener);
  try {
    await fn();
    await new Promise<void>((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}
