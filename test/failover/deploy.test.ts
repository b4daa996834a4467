import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { answeringUpstream, type WriteRecord } from '../../drill/load.ts';
import { renderNginxSite, startNginx } from '../../drill/nginx.ts';
import { freePort } from '../../drill/ports.ts';
import { checkWrites } from '../../drill/writes-check.ts';
import { subscribe } from '../ecosystem/sse.ts';
import { serveApp } from '../security/served.ts';
import { aReview } from '../support/fixtures.ts';
import { lacks } from '../support/system-programs.ts';

const dir = mkdtempSync(join(tmpdir(), 'reviews-deploy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const deploy = (name: string) => fileURLToPath(new URL(`../../deploy/${name}`, import.meta.url));

const itWithNginx = it.skipIf(lacks('nginx', 'the nginx configuration check'));
const itWithHaproxy = it.skipIf(lacks('haproxy', 'the HAProxy configuration check'));

describe('the load balancer configurations in deploy/', () => {
  itWithNginx('nginx accepts the site as the drill renders it (nginx -t)', () => {
    writeFileSync(
      join(dir, 'reviews-api.conf'),
      renderNginxSite({
        nodes: ['127.0.0.1:4101', '127.0.0.1:4102', '127.0.0.1:4103'],
        listen: '127.0.0.1:4100',
        cacheDir: join(dir, 'cache'),
      }),
    );
    copyFileSync(deploy('reviews-api-proxy.conf'), join(dir, 'reviews-api-proxy.conf'));
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${join(dir, 'nginx.pid')};\nevents {}\nhttp { include reviews-api.conf; }\n`,
    );
    const check = () =>
      execFileSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
        stdio: 'pipe',
      });
    expect(check).not.toThrow();
  });

  itWithNginx('nginx refuses a client past 20 open requests with 429, serving the rest (limit_conn)', async () => {
    const app = await serveApp({ maxSubscriptionsPerAddress: 100 });
    const site = mkdtempSync(join(tmpdir(), 'reviews-nginx-limit-'));
    const nginx = await startNginx(site, {
      nodes: [new URL(app.url).host],
      listen: `127.0.0.1:${await freePort()}`,
    });
    const streams = new AbortController();
    try {
      const review = aReview(app.db);
      const query = 'subscription($r: ID!) { commentAdded(reviewId: $r) { id } }';
      const statuses: number[] = [];
      // Streams held open through nginx, one client address: the 21st and later are refused.
      for (let i = 0; i < 24; i++) {
        statuses.push((await subscribe(nginx.url, query, { r: review.globalId }, streams.signal)).status);
      }
      expect(statuses.filter((status) => status === 200)).toHaveLength(20);
      expect(statuses.slice(20)).toEqual([429, 429, 429, 429]);
    } finally {
      streams.abort();
      await nginx.stop();
      await app.close();
      rmSync(site, { recursive: true, force: true });
    }
  });

  itWithNginx('nginx gives every node the same share of requests, however long each holds them', async () => {
    // A standby holds some requests while it waits (for the primary, for its follower): a
    // balancer counting requests in flight would send the nodes that wait nothing.
    const served = [0, 0, 0];
    const nodes: Server[] = served.map((_, i) =>
      createServer((_request, response) => {
        served[i] = (served[i] ?? 0) + 1;
        setTimeout(() => response.writeHead(200, { 'cache-control': 'no-store' }).end('{}'), i === 0 ? 150 : 0);
      }),
    );
    await Promise.all(nodes.map((node) => new Promise<void>((done) => node.listen(0, '127.0.0.1', done))));
    const site = mkdtempSync(join(tmpdir(), 'reviews-nginx-share-'));
    const nginx = await startNginx(site, {
      nodes: nodes.map((node) => `127.0.0.1:${(node.address() as AddressInfo).port}`),
      listen: `127.0.0.1:${await freePort()}`,
    });
    try {
      const client = async () => {
        for (let i = 0; i < 10; i++) {
          const response = await fetch(`${nginx.url}/graphql?query={reviews{totalCount}}`, {
            headers: { authorization: 'Bearer not-cached' },
          });
          expect(response.status).toBe(200);
        }
      };
      await Promise.all(Array.from({ length: 6 }, client));
      // 20 each in turn; nginx may send one again after a kept-alive connection closed under it.
      for (const count of served) expect(count).toBeGreaterThanOrEqual(19);
    } finally {
      await nginx.stop();
      for (const node of nodes) node.closeAllConnections();
      await Promise.all(nodes.map((node) => new Promise((done) => node.close(done))));
      rmSync(site, { recursive: true, force: true });
    }
  });

  itWithHaproxy('HAProxy accepts the documented alternative (haproxy -c)', () => {
    expect(() => execFileSync('haproxy', ['-c', '-f', deploy('haproxy.cfg')], { stdio: 'pipe' })).not.toThrow();
  });
});

describe("the drill's checks", () => {
  it('reads the answering node from X-Upstream, after a retry too', () => {
    expect(answeringUpstream('127.0.0.1:4101')).toBe('127.0.0.1:4101');
    expect(answeringUpstream('127.0.0.1:4101, 127.0.0.1:4102')).toBe('127.0.0.1:4102');
    expect(answeringUpstream('127.0.0.1:4101 : 127.0.0.1:4102')).toBe('127.0.0.1:4102');
    expect(answeringUpstream(null)).toBeNull();
  });

  it('counts acknowledged writes missing from the final database, and writes that landed twice', () => {
    const path = join(dir, 'final.db');
    const db = new Database(path);
    db.exec('create table reviews (subject text); create table comments (body text);');
    db.exec("insert into reviews values ('drill-r1-w0-0'), ('drill-r1-w0-2'), ('drill-r1-w0-2'), ('other')");
    db.exec("insert into comments values ('drill-r1-w0-1')");
    db.close();
    const write = (key: string, outcome: WriteRecord['outcome']): WriteRecord => ({
      key,
      kind: 'review',
      writer: 0,
      startedAt: 0,
      ackedAt: outcome === 'acknowledged' ? 1 : null,
      ackedBy: null,
      ackedIn: null,
      outcome,
      refusal: null,
      attempts: [],
    });
    const verdict = checkWrites(
      path,
      [
        write('drill-r1-w0-0', 'acknowledged'),
        write('drill-r1-w0-1', 'gave up'),
        write('drill-r1-w0-2', 'acknowledged'),
        write('drill-r1-w0-3', 'acknowledged'),
      ],
      'r1',
    );
    expect(verdict.acknowledged).toBe(3);
    expect(verdict.missing.map((missing) => missing.key)).toEqual(['drill-r1-w0-3']);
    expect(verdict.duplicated).toEqual([{ key: 'drill-r1-w0-2', copies: 2 }]);
    expect(verdict.unacknowledgedPresent).toBe(1);
  });
});
