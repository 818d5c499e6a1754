/**
 * The code blocks of the README and docs/, for test/docs.test.ts: every ```ts
 * block is type-checked against the package's entries (mapped to src/), and a
 * block after a `<!-- run -->` comment is also run against the real server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The comment that marks the next ```ts block as one to run. */
export const RUN_MARKER = '<!-- run -->';

/** The package's import specifiers and the sources they stand for (Node's root entry: examples run in Node). */
export const ENTRY_SOURCES: Readonly<Record<string, string>> = {
  statesocket: 'src/node.ts',
  'statesocket/server': 'src/server/index.ts',
  'statesocket/server/redis': 'src/server/redis/index.ts',
  'statesocket/testing': 'src/testing/index.ts',
  'statesocket/inspect': 'src/inspect/index.ts',
  'statesocket/react': 'src/react/index.ts',
};

export interface CodeBlock {
  /** The markdown file, relative to the repository: `README.md`, `docs/cli.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string: `ts`, `sh`, `text`, … */
  lang: string;
  code: string;
  /** Preceded by `<!-- run -->` (blank lines between allowed). */
  run: boolean;
}

/** The README and every page under docs/, relative to the repository. */
export function markdownFiles(): string[] {
  const docs = readdirSync(`${ROOT}docs`)
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/** Every fenced block of a markdown text, in order. */
export function codeBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  let lastText = '';
  for (let i = 0; i < lines.length; i++) {
    const opening = /^```(\S*)\s*$/.exec(lines[i] ?? '');
    if (!opening) {
      if ((lines[i] ?? '').trim() !== '') lastText = (lines[i] ?? '').trim();
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] ?? '');
    if (i === lines.length) throw new Error(`${file}:${start + 1}: a code block is never closed`);
    blocks.push({ file, line: start + 1, lang: opening[1] ?? '', code: `${body.join('\n')}\n`, run: lastText === RUN_MARKER });
    lastText = '';
  }
  return blocks;
}

/** The ```ts (and ```tsx: React components) blocks of the README and docs/. */
export function typeScriptBlocks(): CodeBlock[] {
  return markdownFiles().flatMap((file) =>
    codeBlocks(file, readFileSync(`${ROOT}${file}`, 'utf8')).filter((block) => block.lang === 'ts' || block.lang === 'typescript' || block.lang === 'tsx'),
  );
}

/** Where a block is type-checked: a file that exists nowhere, inside the repository so its packages resolve. */
export function virtualPath(block: CodeBlock): string {
  // a .tsx file is a module here too: package.json says "type": "module"
  return `${ROOT}.doc-blocks/${block.file.replace(/[/.]/g, '-')}-${block.line}.${block.lang === 'tsx' ? 'tsx' : 'mts'}`;
}

/**
 * Type-checks blocks as modules (each its own scope) under the repository's
 * tsconfig, with the package's specifiers mapped to src/. Returns one message
 * per error, `file:line: message` with the markdown file's line numbers.
 */
export function typeCheckBlocks(blocks: readonly CodeBlock[]): string[] {
  const configPath = `${ROOT}tsconfig.json`;
  const config = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: true,
    paths: Object.fromEntries(Object.entries(ENTRY_SOURCES).map(([specifier, source]) => [specifier, [`${ROOT}${source}`]])),
  };
  // `export {}` keeps a block without imports a module, so blocks never share names.
  const sources = new Map(blocks.map((block) => [virtualPath(block), `${block.code}export {};\n`]));
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (path) => sources.has(path) || fileExists.call(host, path);
  host.readFile = (path) => sources.get(path) ?? readFile.call(host, path);
  host.getSourceFile = (path, language, onError, create) => {
    const text = sources.get(path);
    if (text !== undefined) return ts.createSourceFile(path, text, language, true);
    return getSourceFile.call(host, path, language, onError, create);
  };
  const program = ts.createProgram([...sources.keys()], options, host);
  const errors: string[] = [];
  for (const block of blocks) {
    const source = program.getSourceFile(virtualPath(block));
    if (source === undefined) throw new Error(`${block.file}:${block.line}: the block was not compiled`);
    const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
    for (const diagnostic of diagnostics) {
      const at = diagnostic.start === undefined ? 0 : source.getLineAndCharacterOfPosition(diagnostic.start).line;
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      errors.push(`${block.file}:${block.line + 1 + at}: TS${diagnostic.code} ${message}`);
    }
  }
  return errors;
}

/**
 * The block as a file Node runs from anywhere: the package's specifiers point
 * at src/ (run with tsx), and `replace` swaps literal text (the server's URL).
 */
export function runnableSource(block: CodeBlock, replace: Readonly<Record<string, string>> = {}): string {
  let code = block.code;
  for (const [specifier, source] of Object.entries(ENTRY_SOURCES)) {
    code = code.replaceAll(`from '${specifier}'`, `from '${ROOT}${source}'`);
  }
  for (const [from, to] of Object.entries(replace)) {
    if (!code.includes(from)) throw new Error(`${block.file}:${block.line}: the block does not contain ${from}`);
    code = code.replaceAll(from, to);
  }
  return code;
}

/**
 * Whether an output line looks like one the docs show. A line `word {json}`
 * matches when the word is the same and the JSON is an object with the same
 * keys and value types, in any order (a feed's values and key order vary);
 * any other line matches with its numbers free.
 */
export function looksLike(actual: string, shown: string): boolean {
  const shape = /^(\S+) (\{.*\})$/;
  const a = shape.exec(actual);
  const s = shape.exec(shown);
  if (a && s) {
    if (a[1] !== s[1]) return false;
    const types = (json: string) => {
      const value = JSON.parse(json) as Record<string, unknown>;
      return Object.entries(value)
        .map(([key, item]) => `${key}:${typeof item}`)
        .sort()
        .join(',');
    };
    try {
      return types(a[2] ?? '') === types(s[2] ?? '');
    } catch {
      return false;
    }
  }
  const number = /-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g;
  const pattern = shown
    .split(number)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join(number.source);
  return new RegExp(`^${pattern}$`).test(actual);
}

/** Whether `lines` holds lines that look like each of `shown`, in that order (others may come between). */
export function matchesInOrder(lines: readonly string[], shown: readonly string[]): boolean {
  let next = 0;
  for (const line of lines) {
    if (next < shown.length && looksLike(line, shown[next] ?? '')) next++;
  }
  return next === shown.length;
}
