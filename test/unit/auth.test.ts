import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authenticate, signingKey, signToken, tokenAuthenticator } from '../../src/auth.ts';

const key = await signingKey('unit-test-secret-that-is-at-least-32-chars');

// Every rule holds alike for the plain check and for the service's, which remembers good tokens.
describe.each([
  ['authenticate', (header: string | null) => authenticate(header, key)],
  ['tokenAuthenticator', tokenAuthenticator(key)],
])('%s', (_name, check) => {
  it('is anonymous without a header', async () => {
    expect(await check(null)).toEqual({ kind: 'anonymous' });
  });

  it('accepts an HS256 token signed with the key', async () => {
    const token = await signToken({ userId: 'u1', name: 'Ada', roles: ['moderator'] }, key);
    expect(await check(`Bearer ${token}`)).toEqual({
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
    expect(await check(`Bearer ${token}`)).toEqual({ kind: 'invalid', reason: 'token expired' });
  });

  it('refuses a token signed with another key', async () => {
    const token = await signToken({ userId: 'u1' }, await signingKey('another-secret-that-is-at-least-32-chars'));
    expect((await check(`Bearer ${token}`)).kind).toBe('invalid');
  });

  it('refuses alg "none"', async () => {
    const token = new UnsecuredJWT({ name: 'Ada' }).setSubject('u1').encode();
    expect((await check(`Bearer ${token}`)).kind).toBe('invalid');
  });

  it('refuses RS256 tokens (no algorithm confusion)', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('u1').sign(privateKey);
    expect((await check(`Bearer ${token}`)).kind).toBe('invalid');
  });

  it('refuses a token without a subject', async () => {
    const token = await new SignJWT({ name: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    expect((await check(`Bearer ${token}`)).kind).toBe('invalid');
  });

  it('refuses oversized tokens and malformed headers unread', async () => {
    expect(await check(`Bearer ${'a'.repeat(5000)}`)).toEqual({
      kind: 'invalid',
      reason: 'token too large',
    });
    expect((await check('Basic dXNlcjpwYXNz')).kind).toBe('invalid');
    expect((await check('Bearer')).kind).toBe('invalid');
  });
});

describe('tokenAuthenticator', () => {
  afterEach(() => vi.useRealTimers());
  const bearer = async (userId: string, expiresIn = '1h') => `Bearer ${await signToken({ userId, expiresIn }, key)}`;

  it('answers a token it verified before at once, with the same viewer', async () => {
    const check = tokenAuthenticator(key);
    const header = await bearer('u1');
    const first = check(header);
    expect(first).toBeInstanceOf(Promise);
    const verified = await first;
    const again = check(header);
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toEqual(verified);
    expect(Object.isFrozen((again as { viewer: object }).viewer)).toBe(true);
  });

  it('refuses a remembered token once its exp second has come, as jose does', async () => {
    const check = tokenAuthenticator(key);
    const exp = Math.floor(Date.now() / 1000) + 30;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setExpirationTime(exp)
      .sign(key);
    expect((await check(`Bearer ${token}`)).kind).toBe('user');
    vi.useFakeTimers({ now: exp * 1000 - 1 });
    expect(check(`Bearer ${token}`)).toMatchObject({ kind: 'user' });
    vi.setSystemTime(exp * 1000);
    expect(check(`Bearer ${token}`)).toEqual({ kind: 'invalid', reason: 'token expired' });
    expect(await authenticate(`Bearer ${token}`, key)).toEqual({ kind: 'invalid', reason: 'token expired' });
  });

  it('remembers no refused token, and no forgery of a remembered one passes', async () => {
    const check = tokenAuthenticator(key);
    const header = await bearer('u1');
    await check(header);
    const forged = `${header.slice(0, -2)}${header.endsWith('AA') ? 'BB' : 'AA'}`;
    for (let i = 0; i < 2; i++) {
      const answer = check(forged);
      expect(answer).toBeInstanceOf(Promise);
      expect((await answer).kind).toBe('invalid');
    }
  });

  it('forgets the least recently used token past its bound', async () => {
    const check = tokenAuthenticator(key, {}, { maxEntries: 2, maxBytes: 1024 * 1024 });
    const [a, b, c] = await Promise.all([bearer('a'), bearer('b'), bearer('c')]);
    for (const header of [a, b, c]) await check(header);
    expect(check(a)).toBeInstanceOf(Promise);
    expect(check(c)).not.toBeInstanceOf(Promise);
  });
});
