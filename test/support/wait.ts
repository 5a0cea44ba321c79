/**
 * Resolves once `condition()` holds, checking after each turn of the event
 * loop (for state that has no event of its own, such as "a write is held");
 * fails with `what` after `limitMs` rather than spinning forever.
 */
export async function until(condition: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > limitMs) throw new Error(`timed out after ${limitMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
