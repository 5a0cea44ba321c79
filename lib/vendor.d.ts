// uid2 ships no types: uid2(length) returns `length` URL-safe random characters.
declare module 'uid2' {
  function uid2(length: number): string;
  export default uid2;
}
