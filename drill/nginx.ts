import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './ports.ts';

const DEPLOY = fileURLToPath(new URL('../deploy/', import.meta.url));

export interface NginxUpstreams {
  /** Every node's HOST:PORT: equal upstreams. */
  nodes: string[];
  listen: string;
}

/** Where nginx keeps the shared cache of public GET reads. */
export interface NginxSite extends NginxUpstreams {
  cacheDir: string;
}

/** deploy/nginx.conf.template with its ${VAR}s filled, as envsubst would. */
export function renderNginxSite({ nodes, listen, cacheDir }: NginxSite): string {
  const values: Record<string, string> = {
    // What the template's header renders with a shell loop.
    NODE_SERVERS: nodes.map((node) => `server ${node} max_fails=1 fail_timeout=1s; `).join(''),
    LISTEN_ADDR: listen,
    CACHE_DIR: cacheDir,
  };
  return readFileSync(join(DEPLOY, 'nginx.conf.template'), 'utf8').replace(
    /\$\{(NODE_SERVERS|LISTEN_ADDR|CACHE_DIR)\}/g,
    (_, name: string) => values[name] as string,
  );
}

export interface RunningNginx {
  url: string;
  child: ChildProcess;
  errorLog: string;
  stop(): Promise<void>;
}

/**
 * Debian's nginx in the foreground with everything in `dir`: a minimal main configuration
 * around the deploy/ site, so the drill runs the very file operators install.
 */
export async function startNginx(dir: string, upstreams: NginxUpstreams, binary = 'nginx'): Promise<RunningNginx> {
  mkdirSync(join(dir, 'temp'), { recursive: true });
  writeFileSync(join(dir, 'reviews-api.conf'), renderNginxSite({ ...upstreams, cacheDir: join(dir, 'cache') }));
  copyFileSync(join(DEPLOY, 'reviews-api-proxy.conf'), join(dir, 'reviews-api-proxy.conf'));
  const errorLog = join(dir, 'error.log');
  const temp = (name: string) => `${name}_temp_path ${join(dir, 'temp', name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      // Started as root, nginx runs its workers as `nobody`, who cannot reach the cache in `dir`
      // (under private 0700 temporary directories): they run as the user who started it.
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
      '  include reviews-api.conf;',
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', errorLog], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const url = `http://${upstreams.listen}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    // SIGTERM: nginx's fast shutdown, workers included.
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(
      'nginx to listen',
      async () => {
        if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}`);
        await fetch(`${url}/health`);
        return true;
      },
      10_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, child, errorLog, stop };
}
