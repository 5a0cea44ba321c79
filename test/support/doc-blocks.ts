// Code blocks of the documentation, as test/docs-code.test.ts type-checks them.
//
// The convention, for README.md and docs/*.md:
// - Every fenced block has a language tag. ```ts and ```js (also ```mts,
//   ```cts, ```mjs, ```cjs, ```typescript, ```javascript) are complete files a
//   reader can copy: each one compiles on its own, under strict, against the
//   packed package. Anything else (```text for output, fragments and
//   pseudo-code, ```sh, ```diff, ```json) is not compiled.
// - A ```ts block is an ES module (.mts) unless it uses `import x =
//   require()` (then .cts); a ```js block is CommonJS (.cjs) unless it has
//   import or export statements (then .mjs).
// - A block that needs code around it to make sense on its own (a `store` or
//   an `app` built in the section above) gets a prelude: an HTML comment
//   right before the fence, which readers don't see.
//
//       <!-- prelude: import { store } from './store.js'; -->
//       ```ts
//       app.use(session({ store }));
//       ```
//
//   Preludes may span lines. `<!-- prelude: koa v1 -->` says the block is
//   koa v1 code: `koa` is then koa 1.x, which has no typings.

export interface DocBlock {
  /** The markdown file, relative to the repository. */
  file: string;
  /** Line of the opening fence, 1-based. */
  line: number;
  lang: string;
  code: string;
  prelude: string;
  /** `<!-- prelude: koa v1 -->`: `koa` resolves to koa 1.x. */
  koa1: boolean;
}

const COMPILED = new Set(['ts', 'typescript', 'mts', 'cts', 'js', 'javascript', 'mjs', 'cjs']);
const PRELUDE = /<!--\s*prelude:((?:(?!-->)[\s\S])*)-->\s*$/;

/** Every fenced block of `markdown`; throws on a fence without a language tag. */
export function docBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const lang = info.trim().split(/\s+/)[0] ?? '';
    if (lang === '') {
      throw new Error(
        `${file}:${i + 1}: a code block without a language tag: tag it ts or js to have it compiled, ` +
          'or text, sh, diff, json... to say it is not code to compile',
      );
    }
    const start = i;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.trim().startsWith(fence)) end++;
    if (end === lines.length) throw new Error(`${file}:${start + 1}: a code block that is never closed`);
    i = end;
    if (!COMPILED.has(lang)) continue;
    const before = lines.slice(0, start).join('\n');
    const prelude = PRELUDE.exec(before)?.[1]?.trim() ?? '';
    const code = lines
      .slice(start + 1, end)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
      .join('\n');
    const koa1 = prelude === 'koa v1';
    blocks.push({ file, line: start + 1, lang, code, prelude: koa1 ? '' : prelude, koa1 });
  }
  return blocks;
}

/** The file extension a block compiles as (see the convention above). */
export function extensionOf(block: DocBlock): string {
  const source = block.prelude + '\n' + block.code;
  if (['ts', 'typescript', 'mts', 'cts'].includes(block.lang)) {
    if (block.lang === 'cts' || /^\s*(export\s+)?import\s+\w+\s*=\s*require\(/m.test(source)) return '.cts';
    return '.mts';
  }
  if (block.lang === 'mjs' || (block.lang !== 'cjs' && /^\s*(import|export)\b/m.test(source))) return '.mjs';
  return '.cjs';
}
