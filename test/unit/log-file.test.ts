import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { followLogFile } from '../../src/replication/log-file.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function logPath() {
  const dir = mkdtempSync(join(tmpdir(), 'log-file-'));
  dirs.push(dir);
  return join(dir, 'child.log');
}

const tick = () => new Promise((done) => setTimeout(done, 30));

it('passes on whole lines as they are appended, holding back a partial one until it ends', async () => {
  const path = logPath();
  appendFileSync(path, 'left over from a previous run\n');
  const lines: string[] = [];
  const log = followLogFile(path, (line) => lines.push(line), { intervalMs: 10 });
  appendFileSync(path, 'one\ntw');
  await tick();
  expect(lines).toEqual(['one']);
  appendFileSync(path, 'o\nthree\n');
  await tick();
  expect(lines).toEqual(['one', 'two', 'three']);
  appendFileSync(path, 'unterminated');
  log.close();
  expect(lines).toEqual(['one', 'two', 'three', 'unterminated']);
});

it('cuts the file back once it passes maxBytes, and keeps following what comes after', async () => {
  const path = logPath();
  const lines: string[] = [];
  const log = followLogFile(path, (line) => lines.push(line), { intervalMs: 10, maxBytes: 64 });
  appendFileSync(path, `${'x'.repeat(100)}\n`);
  await tick();
  expect(readFileSync(path, 'utf8')).toBe('');
  appendFileSync(path, 'after\n');
  await tick();
  log.close();
  expect(lines).toEqual(['x'.repeat(100), 'after']);
});
