import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';

export interface Viewer {
  id: string;
  name: string;
  roles: string[];
}

/** What a request's Authorization header says about who is asking. */
export type Authentication =
  | { kind: 'anonymous' }
  | { kind: 'user'; viewer: Viewer }
  | { kind: 'invalid'; reason: string };

/**
 * Control characters (NUL, ESC of terminal escapes, newlines) and the bidirectional overrides
 * that make text display as something else. A name is shown to every reader, and a `sub` is a
 * database key: neither may hold them.
 */
const UNPRINTABLE = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

/**
 * An identity claim exactly as stored: well-formed Unicode, since a lone surrogate is stored as
 * invalid UTF-8 and read back as U+FFFD (two different `sub`s would become one user).
 */
const identity = z
  .string()
  .min(1)
  .max(200)
  .refine((text) => text.isWellFormed(), 'must be well-formed Unicode')
  .refine((text) => !UNPRINTABLE.test(text), 'must not hold control characters');

const claimsSchema = z.object({
  sub: identity,
  name: z.string().trim().pipe(identity).optional(),
  roles: z.array(z.string()).optional(),
  exp: z.number(),
});

/** JWT_MAX_LIFETIME's default: a day, twice what `reviews-api token` issues. */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;

/** Tokens larger than this are refused unread: no header needs more, and parsing costs. */
const MAX_TOKEN_LENGTH = 4096;

/**
 * The HS256 key, imported once as a WebCrypto key: jose signs and verifies with WebCrypto, and
 * given raw bytes or a Node KeyObject it converts them on every call (which doubled its cost).
 */
export function signingKey(secret: string): Promise<CryptoKey> {
  const usages: KeyUsage[] = ['sign', 'verify'];
  return crypto.subtle.importKey('raw', Buffer.from(secret, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, usages);
}

const ANONYMOUS: Authentication = Object.freeze({ kind: 'anonymous' });

/**
 * Reads a bearer token. Only HS256 is accepted: `none` and RS/HS confusion are refused by jose.
 * Without a header, or with one that is no bearer token, the answer is immediate (no promise):
 * most reads carry none, and the fast lane answers them without waiting a turn.
 */
export function authenticate(
  authorization: string | null,
  key: CryptoKey | PromiseLike<CryptoKey>,
  { maxLifetimeSeconds = MAX_TOKEN_LIFETIME_SECONDS }: { maxLifetimeSeconds?: number } = {},
): Authentication | Promise<Authentication> {
  if (!authorization) return ANONYMOUS;
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match?.[1]) return { kind: 'invalid', reason: 'Authorization header must be "Bearer <token>"' };
  const token = match[1];
  if (token.length > MAX_TOKEN_LENGTH) return { kind: 'invalid', reason: 'token too large' };
  return verified(token, key, maxLifetimeSeconds);
}

async function verified(
  token: string,
  key: CryptoKey | PromiseLike<CryptoKey>,
  maxLifetimeSeconds: number,
): Promise<Authentication> {
  try {
    // `exp` is required: a token without one would be good forever, leaked or not.
    const { payload } = await jwtVerify(token, await key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) return { kind: 'invalid', reason: 'token claims are malformed' };
    const { sub, name, roles, exp } = claims.data;
    if (exp - Date.now() / 1000 > maxLifetimeSeconds) return { kind: 'invalid', reason: 'token lives too long' };
    return { kind: 'user', viewer: { id: sub, name: name ?? sub, roles: roles ?? [] } };
  } catch (error) {
    if (error instanceof errors.JWTExpired) return { kind: 'invalid', reason: 'token expired' };
    return { kind: 'invalid', reason: 'token is not valid' };
  }
}

export interface TokenOptions {
  userId: string;
  name?: string;
  roles?: string[];
  expiresIn?: string;
}

export function signToken(options: TokenOptions, key: CryptoKey): Promise<string> {
  const claims: Record<string, unknown> = { name: options.name ?? options.userId };
  if (options.roles?.length) claims.roles = options.roles;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.userId)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '12h')
    .sign(key);
}
