/** Spelling that does not change the meaning: case, "_" and "-". */
function fold(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** The candidate spelled like `name` but for case, "_" and "-" (`maxage`, `reconnect_timeout`). */
export function sameName(name: string, candidates: readonly string[]): string | undefined {
  const folded = fold(name);
  return candidates.find((candidate) => fold(candidate) === folded);
}

/**
 * The candidate within one typo of `name` (two for names of 6 or more
 * characters, none for 3 or fewer: `ttl` is not a typo of `key`), the first
 * of the closest; undefined when none is that close.
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const folded = fold(name);
  const allowed = folded.length <= 3 ? 0 : folded.length <= 5 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    const d = editDistance(folded, fold(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn a into b. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1);
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}
