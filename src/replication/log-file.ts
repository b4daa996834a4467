import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';

export interface LogFile {
  /** The descriptor to hand a child as its stdout and stderr (opened for appending). */
  fd: number;
  /** Reads what is left, stops following and closes the file. */
  close(): void;
}

/**
 * A file a child process logs to, followed line by line. Litestream logs to this rather than a
 * pipe: when the server is killed, a pipe's reader dies with it, and Litestream's next log line
 * (the one it writes as it ships its last WAL frames on the way out) kills it with SIGPIPE
 * before that final sync. A file has no reader to lose.
 *
 * Opened for appending, so the file can be cut back to empty once it passes `maxBytes`: the
 * child's next write lands at the new end.
 */
export function followLogFile(
  path: string,
  onLine: (line: string) => void,
  { intervalMs = 200, maxBytes = 1 << 20 }: { intervalMs?: number; maxBytes?: number } = {},
): LogFile {
  const fd = openSync(path, 'a+');
  ftruncateSync(fd, 0);
  let offset = 0;
  let partial = '';
  const buffer = Buffer.alloc(64 * 1024);
  const drain = () => {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, offset);
      if (read === 0) break;
      offset += read;
      const lines = (partial + buffer.toString('utf8', 0, read)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) onLine(line);
    }
    if (offset > maxBytes && fstatSync(fd).size === offset) {
      ftruncateSync(fd, 0);
      offset = 0;
    }
  };
  const timer = setInterval(drain, intervalMs);
  timer.unref();
  return {
    fd,
    close() {
      clearInterval(timer);
      drain();
      if (partial) onLine(partial);
      closeSync(fd);
    },
  };
}
