// Finding where members of a JSON object text start and end without decoding
// any value: shared by the merge's text diff (lib/session.ts) and RedisStore's
// splice (lib/store/redis-scripts.ts), which must keep every value byte for
// byte.

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
/** What SPLICE's '^[%w%.%+%-]+' takes: letters, digits, '.', '+', '-'. */
const isLiteral = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 43 || c === 45;

export function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Index of the closing quote of the string opening at `i`, or -1: the next quote not escaped by an odd run of backslashes. */
export function stringEnd(text: string, i: number): number {
  let j = i;
  for (;;) {
    j = text.indexOf('"', j + 1);
    if (j < 0) return -1;
    let b = j - 1;
    while (text.charCodeAt(b) === 92) b--;
    if ((j - 1 - b) % 2 === 0) return j;
  }
}

/** Index of the last character of the value starting at `i`, or -1. */
export function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 34) return stringEnd(text, i);
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const b = text.charCodeAt(j);
      if (b === 34) {
        j = stringEnd(text, j);
        if (j < 0) return -1;
      } else if (b === 123 || b === 91) {
        depth++;
      } else if ((b === 125 || b === 93) && --depth === 0) {
        return j;
      }
    }
    return -1;
  }
  let j = i;
  while (j < text.length && isLiteral(text.charCodeAt(j))) j++;
  return j === i ? -1 : j - 1;
}
