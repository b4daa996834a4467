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

const claimsSchema = z.object({
  sub: z.string().min(1).max(200),
  name: z.string().trim().min(1).max(200).optional(),
  roles: z.array(z.string()).optional(),
});

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

/** Reads a bearer token. Only HS256 is accepted: `none` and RS/HS confusion are refused by jose. */
export async function authenticate(authorization: string | null, key: CryptoKey): Promise<Authentication> {
  if (!authorization) return { kind: 'anonymous' };
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match?.[1]) return { kind: 'invalid', reason: 'Authorization header must be "Bearer <token>"' };
  const token = match[1];
  if (token.length > MAX_TOKEN_LENGTH) return { kind: 'invalid', reason: 'token too large' };
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['sub'] });
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) return { kind: 'invalid', reason: 'token claims are malformed' };
    const { sub, name, roles } = claims.data;
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
