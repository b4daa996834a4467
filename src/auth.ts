import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { BoundedCache } from './bounded-cache.ts';

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
  const token = bearerToken(authorization);
  if (typeof token !== 'string') return token;
  return verified(token, key, maxLifetimeSeconds).then((result) => result.auth);
}

/**
 * How many verified tokens are remembered, and their bytes at most (a token is at most
 * MAX_TOKEN_LENGTH): a front-end sends one token with every request for as long as it lives,
 * and checking its HMAC again each time was a tenth of a write's CPU.
 */
const VERIFIED_TOKENS = { maxEntries: 10_000, maxBytes: 8 * 1024 * 1024 };

interface VerifiedToken {
  kind: 'user';
  auth: Authentication & { kind: 'user' };
  exp: number;
}

/**
 * `authenticate`, remembering each token that verified: its signature and claims cannot change,
 * so a repeat is answered without a promise, once its `exp` is checked again exactly as jose
 * checks it (it is expired at its `exp` second). Only good tokens are kept, so a flood of forged
 * ones costs what it did and evicts nothing but the least recently used.
 */
export function tokenAuthenticator(
  key: CryptoKey | PromiseLike<CryptoKey>,
  { maxLifetimeSeconds = MAX_TOKEN_LIFETIME_SECONDS }: { maxLifetimeSeconds?: number } = {},
  limits = VERIFIED_TOKENS,
) {
  const tokens = new BoundedCache<VerifiedToken>(limits.maxEntries, limits.maxBytes);
  return (authorization: string | null): Authentication | Promise<Authentication> => {
    const token = bearerToken(authorization);
    if (typeof token !== 'string') return token;
    const known = tokens.get(token);
    if (known) {
      if (known.exp > Math.floor(Date.now() / 1000)) return known.auth;
      tokens.delete(token);
      return EXPIRED;
    }
    return verified(token, key, maxLifetimeSeconds).then((result) => {
      if (result.kind === 'user') tokens.set(token, result, token.length * 2 + 256);
      return result.auth;
    });
  };
}

/** The token of a bearer header, or the answer when there is none to verify. */
function bearerToken(authorization: string | null): string | Authentication {
  if (!authorization) return ANONYMOUS;
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match?.[1]) return { kind: 'invalid', reason: 'Authorization header must be "Bearer <token>"' };
  const token = match[1];
  if (token.length > MAX_TOKEN_LENGTH) return { kind: 'invalid', reason: 'token too large' };
  return token;
}

const EXPIRED: Authentication = Object.freeze({ kind: 'invalid', reason: 'token expired' });

/** A token checked: signature, algorithm, claims and lifetime; `exp` kept when it is good. */
async function verified(
  token: string,
  key: CryptoKey | PromiseLike<CryptoKey>,
  maxLifetimeSeconds: number,
): Promise<VerifiedToken | { kind: 'invalid'; auth: Authentication }> {
  const invalid = (reason: string) => ({ kind: 'invalid' as const, auth: { kind: 'invalid' as const, reason } });
  try {
    // `exp` is required: a token without one would be good forever, leaked or not.
    const { payload } = await jwtVerify(token, await key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) return invalid('token claims are malformed');
    const { sub, name, roles, exp } = claims.data;
    if (exp - Date.now() / 1000 > maxLifetimeSeconds) return invalid('token lives too long');
    const viewer: Viewer = Object.freeze({ id: sub, name: name ?? sub, roles: Object.freeze(roles ?? []) as string[] });
    return { kind: 'user', auth: Object.freeze({ kind: 'user', viewer }), exp };
  } catch (error) {
    if (error instanceof errors.JWTExpired) return { kind: 'invalid', auth: EXPIRED };
    return invalid('token is not valid');
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
