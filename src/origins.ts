/**
 * Which browser origins may call the API from their pages (CORS_ORIGINS): a list of exact
 * origins, or `loopback` (the unset default outside production): any port of localhost,
 * 127.0.0.1 or [::1], where a front end's development server runs.
 */
export type CorsOrigins = readonly string[] | 'loopback';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** `value` written exactly as a browser sends an Origin: scheme, host, port if not the default. */
export function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

export function isLoopback(origin: string): boolean {
  return isOrigin(origin) && LOOPBACK_HOSTS.has(new URL(origin).hostname);
}
