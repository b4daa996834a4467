#!/usr/bin/env node
// The one way the CLI starts (npm start, npx reviews-api, the tests, bench, drill and soak all
// run this file): compiled JavaScript from dist/, rebuilt first if the sources changed.
import { setFlagsFromString } from 'node:v8';
import { ensureBuilt } from './build.js';

// After each full collection V8 lets the old generation grow up to 4× what survived before it
// collects again. Under load most of it is garbage promoted from short-lived requests, which
// took peak RSS to ~230 MB. 2× kept it ~170 MB until writes got faster, then some runs peaked at
// 255–270 MB (old space 150 MB); 1.5× keeps it 152–174 MB at no measurable cost in CPU time per
// request (docs/performance.md, "Writes beside Litestream"). V8 reads this flag at every
// collection, so unlike the heap-size flags it works when set here.
setFlagsFromString('--heap-growing-percent=50');

await ensureBuilt();
await import('../dist/main.js');
