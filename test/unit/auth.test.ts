import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { authenticate, signingKey, signToken } from '../../src/auth.ts';

const key = await signingKey('unit-test-secret-that-is-at-least-32-chars');

describe('authenticate', () => {
  it('is anonymous without a header', async () => {
    expect(await authenticate(null, key)).toEqual({ kind: 'anonymous' });
  });

  it('accepts an HS256 token signed with the key', async () => {
    const token = await signToken({ userId: 'u1', name: 'Ada', roles: ['moderator'] }, key);
    expect(await authenticate(`Bearer ${token}`, key)).toEqual({
      kind: 'user',
      viewer: { id: 'u1', name: 'Ada', roles: ['moderator'] },
    });
  });

  it('refuses an expired token, saying so', async () => {
    const token = await new SignJWT({ name: 'Ada' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key);
    expect(await authenticate(`Bearer ${token}`, key)).toEqual({ kind: 'invalid', reason: 'token expired' });
  });

  it('refuses a token signed with another key', async () => {
    const token = await signToken({ userId: 'u1' }, await signingKey('another-secret-that-is-at-least-32-chars'));
    expect((await authenticate(`Bearer ${token}`, key)).kind).toBe('invalid');
  });

  it('refuses alg "none"', async () => {
    const token = new UnsecuredJWT({ name: 'Ada' }).setSubject('u1').encode();
    expect((await authenticate(`Bearer ${token}`, key)).kind).toBe('invalid');
  });

  it('refuses RS256 tokens (no algorithm confusion)', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('u1').sign(privateKey);
    expect((await authenticate(`Bearer ${token}`, key)).kind).toBe('invalid');
  });

  it('refuses a token without a subject', async () => {
    const token = await new SignJWT({ name: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    expect((await authenticate(`Bearer ${token}`, key)).kind).toBe('invalid');
  });

  it('refuses oversized tokens and malformed headers unread', async () => {
    expect(await authenticate(`Bearer ${'a'.repeat(5000)}`, key)).toEqual({
      kind: 'invalid',
      reason: 'token too large',
    });
    expect((await authenticate('Basic dXNlcjpwYXNz', key)).kind).toBe('invalid');
    expect((await authenticate('Bearer', key)).kind).toBe('invalid');
  });
});
