import { appendFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The system programs some tests drive for real, with the Debian package that brings each. */
const INSTALL = {
  chromium: 'apt-get install -y chromium',
  etcd: 'apt-get install -y etcd-server',
  nginx: 'apt-get install -y nginx',
  haproxy: 'apt-get install -y haproxy',
  lz4: 'apt-get install -y lz4',
  setpriv: 'apt-get install -y util-linux',
} as const;
export type SystemProgram = keyof typeof INSTALL;

/** Programs the code runs by an absolute path (src/replication/litestream.ts): only there counts. */
const AT: Partial<Record<SystemProgram, string>> = { setpriv: '/usr/bin/setpriv' };

/** Set to 1 (as .ci/run does), a missing program fails its tests instead of skipping them. */
export const REQUIRE_SYSTEM_PROGRAMS = 'REQUIRE_SYSTEM_PROGRAMS';
/** Where the skips of this run are listed, one JSON line each (set by the global setup). */
export const SKIPPED_PROGRAMS_FILE = 'REVIEWS_API_SKIPPED_PROGRAMS_FILE';

const isFile = (path: string) => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

function installed(program: SystemProgram): boolean {
  const at = AT[program];
  if (at) return isFile(at);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => isFile(join(dir, program)));
}

/**
 * True when `program` is not installed, so the tests that need it skip (`describe.skipIf`):
 * one line says which program and how to install it, and the run's summary lists it again.
 * Under REQUIRE_SYSTEM_PROGRAMS=1 a missing program throws instead, failing the test file.
 */
export function lacks(program: SystemProgram, tests: string): boolean {
  if (installed(program)) return false;
  const why = `${program} is not installed (${INSTALL[program]})`;
  if (process.env[REQUIRE_SYSTEM_PROGRAMS] === '1') {
    throw new Error(`${why}, which ${tests} need: ${REQUIRE_SYSTEM_PROGRAMS}=1 makes that a failure, not a skip`);
  }
  process.stderr.write(`skipping ${tests}: ${why}\n`);
  const file = process.env[SKIPPED_PROGRAMS_FILE];
  if (file) appendFileSync(file, `${JSON.stringify({ program, install: INSTALL[program], tests })}\n`);
  return true;
}
