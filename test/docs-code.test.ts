import { expect } from 'chai';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { docBlocks, extensionOf, type DocBlock } from './support/doc-blocks.js';
import { packed, root } from './support/packed.js';

// Every ```ts and ```js block of README.md and docs/*.md compiles on its own
// under strict against the packed package, so the documentation cannot drift
// from the typings. The convention (language tags, preludes) is described in
// test/support/doc-blocks.ts.

const DOCS = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => 'docs/' + f),
];

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  esModuleInterop: true,
  allowJs: true,
  checkJs: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
};

// koa v1 has no typings (and koa here is v3): the shape koa v1 apps use, for
// blocks marked `<!-- prelude: koa v1 -->`. An ambient module wins over
// node_modules.
const KOA1 = `declare module 'koa' {
  interface Application {
    keys: string[];
    use(middleware: (this: any, next: Generator) => Generator): this;
    listen(port: number): unknown;
  }
  function koa(): Application;
  export = koa;
}
`;

// Declaration files parsed once for all the blocks' programs
const parsed = new Map<string, ts.SourceFile | undefined>();

function compile(dir: string, roots: string[]): readonly ts.Diagnostic[] {
  const host = ts.createCompilerHost(OPTIONS, true);
  const read = host.getSourceFile.bind(host);
  host.getCurrentDirectory = () => dir;
  host.getSourceFile = (name, target, onError, create) => {
    if (roots.includes(name)) return read(name, target, onError, create);
    const key = `${name}\0${JSON.stringify(target)}`;
    if (!parsed.has(key)) parsed.set(key, read(name, target, onError, create));
    return parsed.get(key);
  };
  const program = ts.createProgram({ rootNames: roots, options: OPTIONS, host });
  return ts.getPreEmitDiagnostics(program);
}

async function check(block: DocBlock): Promise<string> {
  const { consumer } = await packed();
  const dir = join(consumer, 'docs-blocks');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${block.file.replace(/\W/g, '_')}_${block.line}${extensionOf(block)}`);
  const prelude = block.prelude ? block.prelude + '\n' : '';
  writeFileSync(file, prelude + block.code + '\n');
  const roots = [file];
  if (block.koa1) {
    roots.push(join(dir, 'koa1.d.ts'));
    writeFileSync(roots[1]!, KOA1);
  }
  const offset = prelude.split('\n').length - 1;
  return compile(consumer, roots)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file || d.start === undefined) return text;
      const line = d.file.getLineAndCharacterOfPosition(d.start).line;
      if (d.file.fileName !== file) return `${d.file.fileName}:${line + 1}: ${text}`;
      const where = line < offset ? `prelude line ${line + 1}` : `${block.line + 1 + line - offset}`;
      return `${block.file}:${where}: ${text}`;
    })
    .join('\n');
}

describe('documentation code blocks', function () {
  this.timeout(180_000);

  describe('the convention (test/support/doc-blocks.ts)', () => {
    it('compiles ts and js blocks, with the prelude written before the fence, and skips text, sh and diff', () => {
      const md = [
        '# t',
        '<!-- prelude: import { store } from "./store.js";',
        'declare const app: { use(f: unknown): void }; -->',
        '```ts',
        'app.use(store);',
        '```',
        '```text',
        'not code',
        '```',
        '```sh',
        'npm test',
        '```',
        '  ```js',
        '  const x = require("y");',
        '  ```',
      ].join('\n');
      const blocks = docBlocks('t.md', md);
      expect(blocks.map((b) => [b.line, b.lang, b.code, b.prelude])).to.deep.equal([
        [4, 'ts', 'app.use(store);', 'import { store } from "./store.js";\ndeclare const app: { use(f: unknown): void };'],
        [13, 'js', 'const x = require("y");', ''],
      ]);
      expect(blocks.map(extensionOf)).to.deep.equal(['.mts', '.cjs']);
    });

    it('a prelude belongs to the block right after it only', () => {
      const md = ['<!-- prelude: const a = 1; -->', '```ts', 'a;', '```', 'text', '<!-- a note -->', '```ts', 'b;', '```'];
      expect(docBlocks('t.md', md.join('\n')).map((b) => b.prelude)).to.deep.equal(['const a = 1;', '']);
    });

    it('koa v1 blocks, ES module js and import = require() ts get their own compile settings', () => {
      const md = ['<!-- prelude: koa v1 -->', '```js', 'var koa = require("koa");', '```', '```js', 'import x from "y";', '```'];
      const blocks = docBlocks('t.md', [...md, '```ts', 'import x = require("y");', '```'].join('\n'));
      expect(blocks.map((b) => [b.koa1, b.prelude, extensionOf(b)])).to.deep.equal([
        [true, '', '.cjs'],
        [false, '', '.mjs'],
        [false, '', '.cts'],
      ]);
    });

    it('a block without a language tag is refused, naming where it is', () => {
      expect(() => docBlocks('t.md', 'x\n```\ncode\n```')).to.throw(/t\.md:2: a code block without a language tag/);
    });
  });

  describe('compile on their own, under strict, against the packed package', () => {
    const blocks = DOCS.flatMap((file) => docBlocks(file, readFileSync(join(root, file), 'utf8')));

    it('the documentation has blocks to check', () => {
      expect(blocks.length).to.be.greaterThan(5);
    });

    for (const block of blocks) {
      it(`${block.file}:${block.line} (${block.lang})`, async () => {
        expect(await check(block)).to.equal('');
      });
    }
  });
});
