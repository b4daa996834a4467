/** One line of Litestream's log (Go slog text: `time=… level=INFO msg="…" key=value …`). */
export interface LitestreamLogLine {
  level: string;
  msg: string;
  fields: Record<string, string>;
}

const FIELD = /([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g;

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    return JSON.parse(value) as string;
  } catch {
    // Go's quoting has escapes JSON lacks (\x..): the raw text still reads well.
    return value.slice(1, -1);
  }
}

export function parseLitestreamLogLine(line: string): LitestreamLogLine {
  const fields: Record<string, string> = {};
  for (const [, key, value] of line.matchAll(FIELD)) {
    if (key && value !== undefined) fields[key] = unquote(value);
  }
  const { level = 'INFO', msg = line, time: _time, ...rest } = fields;
  return { level, msg, fields: rest };
}

/** The one-line reason a Litestream command failed, from its ERROR lines. */
export function litestreamFailure(lines: LitestreamLogLine[]): string | null {
  const errors = lines.filter((line) => line.level === 'ERROR');
  if (errors.length === 0) return null;
  return errors
    .map(({ msg, fields }) => (fields.error ? `${msg}: ${fields.error}` : msg))
    .join('; ')
    .replace(/\s*\n\s*/g, ' ');
}
