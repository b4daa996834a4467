import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** The log message a server writes once it accepts connections, with its GraphQL `url`. */
export const LISTENING = 'listening';

/**
 * Resolves with the GraphQL URL a server process logs once it listens. Rejects, with the end of
 * its stderr, if it exits first or has not listened within `timeoutMs`. Every JSON line the
 * process prints, before and after, goes to `onEntry`; other lines are ignored.
 */
export function untilListening(
  child: ChildProcess,
  { timeoutMs = 60_000, onEntry }: { timeoutMs?: number; onEntry?: (entry: Record<string, unknown>) => void } = {},
): Promise<string> {
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${LISTENING}" within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    const settle = () => clearTimeout(timer);
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        onEntry?.(entry);
        if (entry.msg === LISTENING) {
          settle();
          resolve(String(entry.url));
        }
      });
    }
    child.once('exit', (code) => {
      settle();
      reject(new Error(`exited with ${code} before listening: ${stderr}`));
    });
  });
}
