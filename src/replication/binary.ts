import { createRequire } from 'node:module';

/**
 * The Litestream executable for this platform, from the `@flydotio/litestream-<os>-<arch>`
 * package that `@flydotio/litestream` pulls in. Spawned directly: the package's own `bin` is a
 * node wrapper that drops exit codes and does not pass signals on, so a failed restore would
 * look like success and a stopped server would leave Litestream running.
 */
export function litestreamBinary(): string {
  // Resolve from the wrapper package: its platform package is its optional dependency.
  const fromWrapper = createRequire(createRequire(import.meta.url).resolve('@flydotio/litestream/package.json'));
  const platformPackage = `@flydotio/litestream-${process.platform}-${process.arch}`;
  try {
    return fromWrapper.resolve(`${platformPackage}/litestream`);
  } catch {
    throw new Error(
      `no Litestream binary for ${process.platform}-${process.arch}: ${platformPackage} is not installed`,
    );
  }
}
