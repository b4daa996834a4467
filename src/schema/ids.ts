import { decodeBase64, encodeBase64 } from '@pothos/core';
import { clientError, ErrorCode } from '../errors.ts';

/**
 * The text `value` encodes, or null unless it is base64 exactly as this service writes it:
 * base64 has other spellings of the same bytes, which would name the same id or cursor twice.
 */
export function exactBase64Text(value: string): string | null {
  let decoded: string;
  try {
    decoded = decodeBase64(value);
  } catch {
    return null;
  }
  return encodeBase64(decoded) === value ? decoded : null;
}

/** The database key inside a decoded global ID; a malformed one is the client's error. */
export function rowId(globalId: { id: string | number; typename: string }): number {
  const id = Number(globalId.id);
  if (!Number.isSafeInteger(id) || id < 1) {
    throw clientError(ErrorCode.BAD_USER_INPUT, `Not a valid ${globalId.typename} id`);
  }
  return id;
}

/** A user's key inside a global User id (users are keyed by their token's `sub`). */
export function userId(globalId: { id: string | number; typename: string }): string {
  if (globalId.typename !== 'User') throw clientError(ErrorCode.BAD_USER_INPUT, 'Not a valid User id');
  return String(globalId.id);
}
