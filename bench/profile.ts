/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --cpu-prof DIR`) by where
 * the time went: self time per package under node_modules, the service's own sources, Node's
 * internals, the garbage collector. Usage: node --import tsx bench/profile.ts FILE.cpuprofile
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The bucket a frame's time is counted in. */
export function bucketOf({ functionName, url }: ProfileNode['callFrame']): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1] as string;
  if (url.startsWith('node:')) return 'node internals';
  const source = /\/(src|bench)\//.exec(url);
  return source ? `${source[1]}/` : url;
}

/** Self time per bucket, largest first, as shares of the whole profile. */
export function summarize(profile: CpuProfile) {
  const bucketById = new Map(profile.nodes.map((node) => [node.id, bucketOf(node.callFrame)]));
  const micros = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const bucket = bucketById.get(id) ?? '(unknown)';
    micros.set(bucket, (micros.get(bucket) ?? 0) + delta);
    total += delta;
  });
  return [...micros.entries()]
    .map(([bucket, us]) => ({ bucket, share: us / total, ms: Math.round(us / 1000) }))
    .sort((a, b) => b.share - a.share);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile.ts FILE.cpuprofile\n');
    process.exit(2);
  }
  const rows = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  for (const { bucket, share, ms } of rows.slice(0, 25)) {
    process.stdout.write(`${(share * 100).toFixed(1).padStart(5)} %  ${String(ms).padStart(7)} ms  ${bucket}\n`);
  }
}
