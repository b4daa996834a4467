#!/usr/bin/env node
// The one way the CLI starts (npm start, npx reviews-api, the tests, bench, drill and soak all
// run this file): compiled JavaScript from dist/, rebuilt first if the sources changed.
import { ensureBuilt } from './build.js';

await ensureBuilt();
await import('../dist/main.js');
