import { exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signingKey } from '../../src/auth.ts';
import { reviews } from '../../src/db/schema.ts';
import { testConfig, tokenFor } from '../support/app.ts';
import { post, serveApp } from './served.ts';

const CREATE = `mutation { createReview(input: { subject: "s", rating: 5, title: "t", body: "b" }) { review { id } } }`;

const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, key: Uint8Array | CryptoKey, expiresAt = now() + 600) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('mallory')
    .setExpirationTime(expiresAt)
    .sign(key);
}

/** A correctly signed token with exactly these claims (no setSubject over them). */
function claimsToken(claims: Record<string, unknown>, key: CryptoKey) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(now() + 600)
    .sign(key);
}

/** Every token an attacker might try, each with why it must be refused. */
async function hostileTokens(): Promise<Record<string, string>> {
  const rightKey = await signingKey(testConfig.jwtSecret);
  const rsa = await generateKeyPair('RS256');
  const publicPem = await exportSPKI(rsa.publicKey);
  return {
    'signed with another secret (forged)': await hs256(
      { roles: ['moderator'] },
      await signingKey('an-attackers-guess-at-the-secret-xx'),
    ),
    expired: await hs256({}, rightKey, now() - 60),
    'alg none': new UnsecuredJWT({ sub: 'mallory', roles: ['moderator'] }).setExpirationTime('10m').encode(),
    'RS256, signed with a key pair': await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('mallory')
      .setExpirationTime('10m')
      .sign(rsa.privateKey),
    // RS/HS confusion: a verifier that takes "the key" for either algorithm would accept this.
    'HS256 keyed with an RSA public key': await hs256({}, new TextEncoder().encode(publicPem)),
    'oversized, though correctly signed': await hs256({ name: 'x'.repeat(5000) }, rightKey),
    'malformed claims, though correctly signed': await hs256({ roles: 'moderator' }, rightKey),
    // Stored as invalid UTF-8 and read back as U+FFFD: another lone surrogate became the same user.
    'sub with a lone surrogate': await claimsToken({ sub: 'carol\ud83d' }, rightKey),
    'sub with a NUL': await claimsToken({ sub: 'carol\u0000' }, rightKey),
    'name with a NUL': await hs256({ name: 'Carol\u0000' }, rightKey),
    'name with a bidi override': await hs256({ name: 'Carol\u202egnp.exe' }, rightKey),
    'name with an ANSI escape': await hs256({ name: '\u001b[31mCarol' }, rightKey),
    'name with a newline': await hs256({ name: 'Carol\nAdmin' }, rightKey),
    'name with a lone surrogate': await hs256({ name: 'Carol\udc00' }, rightKey),
    'without exp (good forever)': await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .sign(rightKey),
    'exp beyond JWT_MAX_LIFETIME': await hs256({}, rightKey, now() + 10 * 365 * 86_400),
    'signature cut off': (await tokenFor('mallory')).split('.').slice(0, 2).join('.'),
    'not a JWT': 'hunter2',
  };
}

let served: Awaited<ReturnType<typeof serveApp>>;
beforeAll(async () => {
  served = await serveApp({ rateLimitIpPerMinute: 10_000 });
});
afterAll(() => served.close());

describe('hostile tokens, over real HTTP', () => {
  it('are each refused as UNAUTHENTICATED, write nothing, and make no viewer', async () => {
    const tokens = await hostileTokens();
    for (const [why, token] of Object.entries(tokens)) {
      const write = await post(served.url, { query: CREATE }, { token });
      expect(write.status, why).toBeLessThan(500);
      expect(write.errors?.[0]?.extensions?.code, why).toBe('UNAUTHENTICATED');
      const viewer = await post(served.url, { query: '{ viewer { id } }' }, { token });
      expect(viewer.data, why).toEqual({ viewer: null });
    }
    expect(await served.db.$count(reviews)).toBe(0);
  });

  it('say why in the message without echoing the token', async () => {
    const tokens = await hostileTokens();
    const expired = await post(served.url, { query: CREATE }, { token: tokens.expired });
    expect(expired.errors?.[0]?.message).toMatch(/expired/);
    const oversized = tokens['oversized, though correctly signed'] as string;
    const large = await post(served.url, { query: CREATE }, { token: oversized });
    expect(large.errors?.[0]?.message).toMatch(/too large/);
    expect(JSON.stringify(large)).not.toContain(oversized.slice(0, 40));
  });

  it('refuse Authorization headers that are not "Bearer <token>"', async () => {
    for (const authorization of ['Basic YWxpY2U6c2VjcmV0', 'Bearer', 'Bearer a b', 'Token abc']) {
      const response = await post(served.url, { query: CREATE }, { headers: { authorization } });
      expect(response.errors?.[0]?.extensions?.code, authorization).toBe('UNAUTHENTICATED');
    }
  });

  it('answer a header block too large for the server with 431, not a crash', async () => {
    const response = await fetch(served.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${'x'.repeat(64 * 1024)}` },
      body: JSON.stringify({ query: CREATE }),
    });
    expect(response.status).toBe(431);
    const after = await post(served.url, { query: '{ __typename }' });
    expect(after.data).toEqual({ __typename: 'Query' });
  });

  it('leave an honest token working', async () => {
    const response = await post(served.url, { query: '{ viewer { id } }' }, { token: await tokenFor('alice') });
    expect(response.errors).toBeUndefined();
  });
});
