import { createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { type LaneChecks, laneChecks, requestRules, yogaPlugins } from '../../src/http/request-rules.ts';
import { yogaOf, yogaOptions } from '../../src/http/yoga.ts';
import { testConfig, tokenFor } from '../support/app.ts';
import { laneHarness } from '../support/lanes.ts';

const READ = '{ ratingSummary(subject: "kettle") { count average } }';
const CREATE = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id title } } }`;
const input = (subject: string) => ({ subject, rating: 4, title: 'Warm', body: 'Fast.' });

/** Every setting that adds plugins on: each rule then has some. */
const EVERYTHING_ON = { ...testConfig, rateLimit: true, fastReads: true, responseCache: true, trustedDocuments: false };

function rulesWith(config = EVERYTHING_ON) {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  const options = { db, config };
  return { options, rules: requestRules(options) };
}

describe('the request rules, declared once', () => {
  it('each has its plugins in Yoga, and either a check the lanes ask or why only Yoga needs it', () => {
    const { rules } = rulesWith();
    for (const [name, rule] of Object.entries(rules)) {
      // A check the lanes ask with no plugin in Yoga would be a rule of the lanes alone.
      expect(rule.plugins.length, name).toBeGreaterThan(0);
      if ('yogaOnly' in rule) expect(rule.yogaOnly, name).toMatch(/\w{3}/);
      else expect(rule.lane, name).toBeDefined();
    }
  });

  it("are Yoga's plugins in their one order, and Yoga runs none of ours beside them", () => {
    const { options, rules } = rulesWith();
    const declared = yogaPlugins(rules);
    expect(declared).toEqual(Object.values(rules).flatMap((rule) => rule.plugins));
    // The plugins Yoga runs, its own around ours (protected in its types).
    const running = (yoga: object) => (yoga as unknown as { plugins: object[] }).plugins;
    const ours = running(yogaOf(rules, options));
    const positions = declared.map((plugin) => ours.indexOf(plugin));
    expect(positions.every((position) => position >= 0)).toBe(true);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    // Beside ours stand only Yoga's own: as many before and after them as around one marker
    // per rule in a Yoga of the same options, so a plugin given to Yoga but no rule shows.
    const markers = Object.values(rules).map(() => ({}));
    const bare = running(createYoga({ ...yogaOptions(options), plugins: markers }));
    const marked = markers.map((marker) => bare.indexOf(marker));
    const around = (list: object[], at: number[]) => [Math.min(...at), list.length - 1 - Math.max(...at)];
    expect(around(ours, positions)).toEqual(around(bare, marked));
  });

  it('give the lanes the checks of the rules that have one, and none when the lanes are off', () => {
    const { rules } = rulesWith({ ...EVERYTHING_ON, responseCache: false });
    const checks = laneChecks(rules, { responseCache: false });
    const withCheck = Object.entries(rules).flatMap(([name, rule]) => ('lane' in rule ? [name] : []));
    expect(Object.keys(checks ?? {})).toEqual(withCheck);
    expect(laneChecks(rules, { responseCache: true })).toBeNull();
    expect(laneChecks(rulesWith({ ...EVERYTHING_ON, fastReads: false }).rules, { responseCache: false })).toBeNull();
  });

  it('are each asked by the lanes, whose answers to a read and a write are their own', async () => {
    const asked = new Set<string>();
    const recording = (checks: LaneChecks) =>
      new Proxy(checks, {
        get(target, name, receiver) {
          asked.add(String(name));
          return Reflect.get(target, name, receiver);
        },
      });
    const lanes = laneHarness({ rateLimit: true }, recording);
    const token = await tokenFor('alice', { name: 'Alice' });
    // Run once through Yoga: the lanes know a document only once it ran compiled there.
    expect((await lanes.throughYoga({ query: READ })).status).toBe(200);
    expect((await lanes.throughYoga({ query: CREATE, variables: { input: input('kettle') } }, token)).status).toBe(200);

    const read = await lanes.decide({ body: { query: READ } });
    const write = await lanes.decide({
      body: { query: CREATE, variables: { input: input('toaster') } },
      headers: { authorization: `Bearer ${token}` },
    });
    expect([read.by, write.by]).toEqual(['lane', 'lane']);
    expect([...asked].sort()).toEqual(Object.keys(lanes.checks).sort());
  });
});
