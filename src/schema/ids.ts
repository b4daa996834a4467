import { clientError, ErrorCode } from '../errors.ts';

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
