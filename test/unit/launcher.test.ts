import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/**
 * bin/reviews-api.js and bin/build.js in a tree of their own with a tiny src/, so a test can
 * edit sources: what the launcher runs must always be the sources as they are now.
 */
describe('bin/reviews-api.js (runs dist/, built from src/ when stale)', () => {
  let tree: string;
  const write = (path: string, text: string) => {
    mkdirSync(join(tree, path, '..'), { recursive: true });
    writeFileSync(join(tree, path), text);
  };
  const launch = async () =>
    (await run(process.execPath, [join(tree, 'bin', 'reviews-api.js')], { timeout: 30_000 })).stdout;

  beforeEach(() => {
    tree = mkdtempSync(join(tmpdir(), 'launcher-'));
    for (const file of ['reviews-api.js', 'build.js']) {
      mkdirSync(join(tree, 'bin'), { recursive: true });
      copyFileSync(join(ROOT, 'bin', file), join(tree, 'bin', file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    write('package.json', '{ "type": "module" }');
    write('data.txt', 'found beside src/');
    // A relative .ts import, a type-only import, a lazy import, and a file found by its own path.
    write(
      'src/main.ts',
      [
        "import type { Greeting } from './lib/types.ts';",
        "import { greet } from './lib/greet.ts';",
        "const greeting: Greeting = greet('Ada');",
        "const { dataFile } = await import('./lib/data.ts');",
        "console.log(greeting + '; ' + dataFile());",
      ].join('\n'),
    );
    write('src/lib/types.ts', 'export type Greeting = string;');
    write('src/lib/greet.ts', "export const greet = (name: string): string => 'hello ' + name;");
    write(
      'src/lib/data.ts',
      "import { readFileSync } from 'node:fs';\nexport const dataFile = () => readFileSync(new URL('../../data.txt', import.meta.url), 'utf8');",
    );
  });

  afterEach(() => {
    rmSync(tree, { recursive: true, force: true });
  });

  it('compiles src/ to dist/ at the same depth and runs it', async () => {
    expect(await launch()).toBe('hello Ada; found beside src/\n');
    const main = readFileSync(join(tree, 'dist', 'main.js'), 'utf8');
    expect(main).toContain('./lib/greet.js');
    expect(main).not.toMatch(/\.ts["']/);
  });

  it('rebuilds when a source changed, and only then', async () => {
    await launch();
    const built = statSync(join(tree, 'dist', 'lib', 'greet.js')).mtimeMs;
    await launch();
    expect(statSync(join(tree, 'dist', 'lib', 'greet.js')).mtimeMs).toBe(built);

    write('src/lib/greet.ts', "export const greet = (name: string): string => 'good morning, ' + name;");
    expect(await launch()).toBe('good morning, Ada; found beside src/\n');
  });

  it('serves the current sources to launchers started together after an edit', async () => {
    await launch();
    write('src/lib/greet.ts', "export const greet = (name: string): string => 'hi ' + name;");
    const outputs = await Promise.all(Array.from({ length: 4 }, launch));
    expect(outputs).toEqual(Array(4).fill('hi Ada; found beside src/\n'));
  });

  it('runs a current dist/ without esbuild (a production install), and refuses a stale one', async () => {
    await launch();
    // node_modules as `npm prune --omit=dev` leaves it: everything but the compiler.
    rmSync(join(tree, 'node_modules'));
    mkdirSync(join(tree, 'node_modules'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (name !== 'esbuild' && name !== '@esbuild')
        symlinkSync(join(ROOT, 'node_modules', name), join(tree, 'node_modules', name));
    }
    expect(await launch()).toBe('hello Ada; found beside src/\n');

    write('src/lib/greet.ts', "export const greet = (name: string): string => 'hi ' + name;");
    await expect(launch()).rejects.toMatchObject({
      stderr: expect.stringContaining('esbuild (a devDependency) is not installed'),
    });
  });

  it('fails with the compiler error when a source does not compile, and runs nothing stale', async () => {
    await launch();
    write('src/lib/greet.ts', 'export const greet = (name: string =>');
    await expect(launch()).rejects.toMatchObject({ stderr: expect.stringContaining('greet.ts') });
  });
});
