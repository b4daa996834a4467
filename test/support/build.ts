import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BUILD = fileURLToPath(new URL('../../bin/build.js', import.meta.url));

/**
 * Vitest globalSetup: compiles src/ to dist/ once before any test file runs. Every spawned
 * bin/reviews-api.js would rebuild a stale dist/ by itself; doing it here first keeps test files
 * that start servers in parallel from all compiling at once, and shows a build error once.
 */
export default function buildOnce() {
  execFileSync(process.execPath, [BUILD], { stdio: 'inherit' });
}
