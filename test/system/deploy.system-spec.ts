// The monitoring shipped with the code (deploy/): every metric the Prometheus alert rules and the Grafana dashboard
// read exists on /metrics of the built server, and the rules parse and fire as their own tests say (promtool, from
// Debian's prometheus package; .ci/run provides it).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { testEnv } from '../support/app';
import { RedisServer } from '../support/redis-server';
import { ServerProcess } from '../support/server-process';
import { eventually } from '../support/wait';

jest.setTimeout(60_000);

const DEPLOY = join(__dirname, '..', '..', 'deploy');
const RULES = join(DEPLOY, 'prometheus', 'alerts.yml');
const RULE_TESTS = join(DEPLOY, 'prometheus', 'alerts.test.yml');
const DASHBOARD = join(DEPLOY, 'grafana', 'dm-jobqueue.json');

/** Series Prometheus makes itself rather than scrapes. */
const PROMETHEUS_OWN = new Set(['up']);

/** PromQL words that are not metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless']);
const KEYWORDS_TOO = new Set(['bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: its identifiers once strings, label matchers, ranges, grouping clauses
 * and Grafana's variables are taken out, less functions (a name followed by `(`) and keywords.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+|\$\{[^}]*\}/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    const before = bare[match.index - 1];
    if (call || KEYWORDS.has(name) || KEYWORDS_TOO.has(name.toLowerCase())) continue;
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 1e3, 5m
    names.add(name);
  }
  return [...names];
}

/** Labels Prometheus adds to every scraped series (the target's). */
const TARGET_LABELS = new Set(['job', 'instance']);

/** Each `name{matchers}` selector of an expression: the metric and its matchers (label, operator, value). */
function selectors(expr: string): { metric: string; matchers: { label: string; op: string; value: string }[] }[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)].map(([, metric, body]) => ({
    metric,
    matchers: [...body.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      ([, label, op, value]) => ({
        label,
        op,
        value,
      }),
    ),
  }));
}

/** The labels an expression groups or matches on (`by (…)`, `without (…)`, `on (…)`, `ignoring (…)`). */
const groupingLabels = (expr: string): string[] =>
  [...expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap(([, list]) =>
    list
      .split(',')
      .map((label) => label.trim())
      .filter(Boolean),
  );

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  /** A row's panels (when collapsed). */
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { type: string; query?: string | { query: string } }[] };
}

const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const ruleExprs = rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr));
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
const dashboardExprs = allPanels(dashboard.panels).flatMap((panel) =>
  (panel.targets ?? []).map((target) => target.expr),
);
/** The dashboard's variables that query Prometheus: `label_values(metric, label)` read as `max by (label) (metric)`. */
const variableExprs = dashboard.templating.list
  .filter((variable) => variable.type === 'query')
  .map((variable) => (typeof variable.query === 'string' ? variable.query : variable.query!.query))
  .map((query) => {
    const match = /^label_values\(\s*([^,]+?)\s*,\s*(\w+)\s*\)$/.exec(query);
    if (!match) throw new Error(`a dashboard variable query this test cannot read: ${query}`);
    return `max by (${match[2]}) (${match[1]})`;
  });

/** promtool's path: PROMTOOL, or on PATH; undefined when neither. */
function findPromtool(): string | undefined {
  if (process.env.PROMTOOL) return process.env.PROMTOOL;
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('metricNames', () => {
  it('finds the metrics of an expression and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(dm_jobqueue_job_lateness_seconds_bucket{le!="x"}[5m]))) > 30',
      ),
    ).toEqual(['dm_jobqueue_job_lateness_seconds_bucket']);
    expect(metricNames('max(a_bytes) / max(b_bytes > 0) > 0.8 and on() up{job="x"} == 0')).toEqual([
      'a_bytes',
      'b_bytes',
      'up',
    ]);
    expect(metricNames('sum by (route, status_code) (rate(x_total[$__rate_interval])) offset 1e3')).toEqual([
      'x_total',
    ]);
    expect(metricNames('deriv(max(q{state="waiting"})[15m:1m]) > 0')).toEqual(['q']);
  });
});

describe('the shipped alert rules and dashboard', () => {
  let redis: RedisServer;
  let server: ServerProcess;
  let exposed: Set<string>;
  /** Each metric family on /metrics, with its type. */
  let families: Map<string, string>;
  /** Each series name on /metrics, with the values seen of each of its labels. */
  const labels = new Map<string, Map<string, Set<string>>>();

  beforeAll(async () => {
    redis = await RedisServer.start();
    server = await ServerProcess.start(testEnv(redis.url));
    await server.untilReady();
    const text = await eventually(
      async () => {
        const body = await (await server.fetch('/metrics')).text();
        return body.includes('dm_jobqueue_queue_jobs{') ? body : undefined;
      },
      5_000,
      'the queue gauges on /metrics',
    );
    // Every series a family can have: a histogram's _bucket, _sum and _count.
    for (const [, name, body] of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/gm)) {
      const seen = labels.get(name) ?? new Map<string, Set<string>>();
      for (const [, label, value] of (body ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
        seen.set(label, (seen.get(label) ?? new Set()).add(value));
      }
      labels.set(name, seen);
    }
    exposed = new Set();
    families = new Map();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      families.set(name, type);
      exposed.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(`${name}${suffix}`);
    }
  });

  afterAll(async () => {
    await server?.kill();
    await redis?.close();
  });

  it('has a rule for each pain point, and panels for every metric of the service', () => {
    const alerts = rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
    expect(alerts).toEqual(
      expect.arrayContaining([
        'DmJobqueueJobsLate',
        'DmJobqueueJobsStalled',
        'DmJobqueueNotReady',
        'DmJobqueueWaitingGrowing',
        'DmJobqueueRedisMemoryHigh',
      ]),
    );
    const onDashboard = new Set(dashboardExprs.flatMap(metricNames));
    const ours = [...families].filter(([name]) => name.startsWith('dm_jobqueue_'));
    // The sentinel: the service's own metrics were found on /metrics.
    expect(ours.map(([name]) => name)).toContain('dm_jobqueue_job_lateness_seconds');
    for (const [name, type] of ours) {
      const series = type === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => `${name}${suffix}`) : [name];
      expect({ name, onDashboard: series.some((each) => onDashboard.has(each)) }).toEqual({ name, onDashboard: true });
    }
  });

  it.each([
    ['alert rules', ruleExprs],
    ['dashboard', [...dashboardExprs, ...variableExprs]],
  ])('reads only metrics that /metrics has, by labels and values they have (%s)', (_what, exprs) => {
    const used = new Set(exprs.flatMap(metricNames));
    expect(used.size).toBeGreaterThan(5);
    const missing = [...used].filter((name) => !exposed.has(name) && !PROMETHEUS_OWN.has(name));
    expect(missing).toEqual([]);
    const problems: string[] = [];
    for (const expr of exprs) {
      const metrics = metricNames(expr);
      for (const { metric, matchers } of selectors(expr)) {
        const seen = labels.get(metric) ?? new Map<string, Set<string>>();
        for (const { label, op, value } of matchers) {
          if (TARGET_LABELS.has(label)) continue;
          if (!seen.has(label)) problems.push(`${metric} has no label ${label}`);
          else if (op === '=' && !seen.get(label)!.has(value)) problems.push(`${metric} has no ${label}="${value}"`);
        }
      }
      for (const label of groupingLabels(expr)) {
        const known = TARGET_LABELS.has(label) || metrics.some((metric) => labels.get(metric)?.has(label));
        if (!known) problems.push(`no metric of "${expr}" has the label ${label}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('finds a misspelt label or value (the checks above can fail)', () => {
    const seen = labels.get('dm_jobqueue_ready')!;
    expect([...seen.get('check')!]).toContain('all');
    expect(seen.has('checks')).toBe(false);
    expect(selectors('dm_jobqueue_ready{check="al", job=~"$job"}')).toEqual([
      {
        metric: 'dm_jobqueue_ready',
        matchers: [
          { label: 'check', op: '=', value: 'al' },
          { label: 'job', op: '=~', value: '$job' },
        ],
      },
    ]);
    expect(groupingLabels('sum by (job, le) (x) / on() y')).toEqual(['job', 'le']);
  });

  const promtool = findPromtool();
  if (!promtool && process.env.CI) throw new Error('promtool is missing: .ci/run provides it (PROMTOOL)');
  (promtool ? it : it.skip)('parses the rules and passes their tests (promtool check rules, test rules)', () => {
    const checked = execFileSync(promtool!, ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(checked).toMatch(new RegExp(`SUCCESS: ${ruleExprs.length} rules found`));
    const tested = execFileSync(promtool!, ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(tested).toContain('SUCCESS');
  });

  (promtool ? it : it.skip)(
    "parses every dashboard query as PromQL (as recording rules, Grafana's intervals set)",
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'dashboard-rules-'));
      try {
        const file = join(dir, 'dashboard.yml');
        const recorded = [...dashboardExprs, ...variableExprs].map((expr, index) => ({
          record: `dashboard:query_${index}`,
          expr: expr.replace(/\$__rate_interval|\$__interval/g, '5m'),
        }));
        writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: recorded }] }));
        const checked = execFileSync(promtool!, ['check', 'rules', file], { encoding: 'utf8' });
        expect(checked).toMatch(new RegExp(`SUCCESS: ${recorded.length} rules found`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
