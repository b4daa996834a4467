import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SKIPPED_PROGRAMS_FILE } from './system-programs.ts';

/**
 * Vitest globalSetup: gives the test processes a file to list what they skipped for a missing
 * system program, and prints that list once the run is over, so a skip is never silent.
 */
export default function collectSkippedPrograms() {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-api-skips-'));
  const file = join(dir, 'skipped.jsonl');
  process.env[SKIPPED_PROGRAMS_FILE] = file;
  return () => {
    let lines: string[] = [];
    try {
      lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      // Nothing was skipped.
    }
    rmSync(dir, { recursive: true, force: true });
    if (lines.length === 0) return;
    const skips = lines.map((line) => JSON.parse(line) as { program: string; install: string; tests: string });
    const byProgram = new Map<string, { install: string; tests: Set<string> }>();
    for (const { program, install, tests } of skips) {
      const entry = byProgram.get(program) ?? { install, tests: new Set<string>() };
      entry.tests.add(tests);
      byProgram.set(program, entry);
    }
    const summary = [...byProgram].map(
      ([program, { install, tests }]) => `  ${program} (${install}): ${[...tests].join('; ')}`,
    );
    process.stdout.write(`\nSkipped for missing system programs:\n${summary.join('\n')}\n`);
  };
}
