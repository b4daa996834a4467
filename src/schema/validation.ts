import { z } from 'zod';

/**
 * Text a person wrote: trimmed, then 1..max characters (code points, so an emoji counts
 * once). NUL and unpaired surrogates are refused: they cannot round-trip through UTF-8
 * storage unchanged, and a write must store exactly what it acknowledged.
 */
export function userText(max: number) {
  return z
    .string()
    .trim()
    .refine((text) => text.length > 0, 'must not be empty')
    .refine((text) => [...text].length <= max, `must be at most ${max} characters`)
    .refine((text) => !text.includes('\u0000'), 'must not contain NUL characters')
    .refine((text) => text.isWellFormed(), 'must be well-formed Unicode');
}

export const rating = z.number().int().min(1, 'must be 1 to 5').max(5, 'must be 1 to 5');

export const version = z.number().int().min(1, 'versions start at 1');

/** Clients generate these (a UUID is typical); printable ASCII keeps them loggable. */
export const idempotencyKey = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** What `idempotencyKey` does, for every input that has one. */
export const IDEMPOTENCY_KEY_DESCRIPTION =
  'Makes a retry safe: a request with the same key from the same user within 24 hours returns the first result instead of writing again (CONFLICT if the rest of the request differs). 1 to 100 printable ASCII characters, e.g. a UUID made once per user action.';

/** What `expectedVersion` does, for every input that has one. */
export const EXPECTED_VERSION_DESCRIPTION =
  'The `version` you last read: if the row has changed since (its version differs), the write is refused with CONFLICT and nothing changes. Leave it out to write whatever the version.';

/** The fields a review and a comment both have, described once. */
export const WRITTEN_ROW = {
  createdAt: 'When it was written.',
  updatedAt: 'When it last changed; equal to `createdAt` until its first update.',
  version: 'Starts at 1 and goes up by one on every update: send it back as `expectedVersion`.',
};
