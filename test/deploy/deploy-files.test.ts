/**
 * The files in deploy/ checked against the real thing: promtool on the
 * Prometheus config and rules, the rules' metric names against a running
 * server's /metrics, every variable the compose file, the systemd units and
 * the Dockerfile set through the real config loader, the units' sandbox
 * (and systemd-analyze when present), and the container health check
 * against a real HTTPS listener.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { isClusterMode, resolveSecrets } from '../../src/config/secrets.js';
import { fleetKeys } from '../../src/fleet/keys.js';
import { MACHINE_STATUSES } from '../../src/fleet/status.js';
import { systemClock } from '../../src/lib/clock.js';
import { PerimeterStats } from '../../src/perimeter/stats.js';
import { COUNTERS } from '../../src/security/metrics/metrics.js';
import { ensureSelfSigned } from '../../src/server/tls.js';
import { findOnPath, freePort } from '../harness/services.js';
import { startTestServer, type TestServer } from '../harness/server.js';
import { loadEnvironment } from './config-env.js';
import { dockerEnv, dockerignorePatterns, dockerStages, execForm, inBuildContext, unitCredentials, unitEnvironment, unitSection, type DockerStage } from './parse.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const at = (rel: string) => join(ROOT, rel);
const read = (rel: string) => readFileSync(at(rel), 'utf8');
const REQUIRED = process.env.FLOTILLA_REQUIRE_SERVICES === '1';
const promtool = findOnPath('promtool');
const openssl = findOnPath('openssl');
const systemdAnalyze = findOnPath('systemd-analyze');

type Json = Record<string, unknown>;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? { PATH: process.env.PATH ?? '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// CI installs these (.ci/run): there a missing one is a failure, not a skip.
for (const [name, path] of [
  ['promtool', promtool],
  ['openssl', openssl],
] as const) {
  if (!path && REQUIRED) {
    describe(`${name}`, () => {
      it('is installed', () => {
        throw new Error(`FLOTILLA_REQUIRE_SERVICES=1 but ${name} is not on PATH`);
      });
    });
  }
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'flotilla-deploy-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh directory under the suite's scratch dir. */
const freshDir = (name: string) => {
  const dir = join(scratch, `${name}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

// ---------------------------------------------------------------- Prometheus

describe('deploy/prometheus', () => {
  const config = parse(read('deploy/prometheus/prometheus.yml')) as Json;
  const scrapeConfigs = config['scrape_configs'] as Json[];

  it('scrapes over HTTPS with a bearer token file and a CA file, never skipping verification', () => {
    expect(scrapeConfigs.length).toBeGreaterThan(0);
    for (const scrape of scrapeConfigs) {
      expect(scrape['scheme']).toBe('https');
      expect(scrape['metrics_path'] ?? '/metrics').toBe('/metrics');
      const auth = scrape['authorization'] as Json;
      expect(auth['type'] ?? 'Bearer').toBe('Bearer');
      expect(auth['credentials_file']).toEqual(expect.any(String));
      const tls = scrape['tls_config'] as Json;
      expect(tls['ca_file']).toEqual(expect.any(String));
      expect(tls['insecure_skip_verify']).not.toBe(true);
    }
    expect(config['rule_files']).toContain('rules.yml');
  });

  it.skipIf(!promtool)('passes promtool check config, with its token and CA files in place', async () => {
    const dir = freshDir('prometheus');
    const placed = structuredClone(config);
    for (const scrape of placed['scrape_configs'] as Json[]) {
      (scrape['authorization'] as Json)['credentials_file'] = join(dir, 'metrics-token');
      (scrape['tls_config'] as Json)['ca_file'] = join(dir, 'ca.pem');
    }
    writeFileSync(join(dir, 'metrics-token'), `${randomBytes(32).toString('base64url')}\n`);
    writeFileSync(join(dir, 'ca.pem'), (await ensureSelfSigned({ dir: join(dir, 'tls'), names: [], clock: systemClock })).certPem);
    writeFileSync(join(dir, 'prometheus.yml'), stringify(placed));
    copyFileSync(at('deploy/prometheus/rules.yml'), join(dir, 'rules.yml'));
    const checked = await run(promtool as string, ['check', 'config', join(dir, 'prometheus.yml')]);
    expect(checked.stderr + checked.stdout).toMatch(/SUCCESS/);
    expect(checked.code).toBe(0);
    // The same check without the token file fails: promtool really looks at the files.
    rmSync(join(dir, 'metrics-token'));
    expect((await run(promtool as string, ['check', 'config', join(dir, 'prometheus.yml')])).code).not.toBe(0);
  });

  it.skipIf(!promtool)('passes promtool check rules', async () => {
    const checked = await run(promtool as string, ['check', 'rules', at('deploy/prometheus/rules.yml')]);
    expect(checked.stderr).toBe('');
    expect(checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
    expect(checked.code).toBe(0);
  });

  it.skipIf(!promtool)('fires its alerts as rules.test.yml expects (promtool test rules)', async () => {
    const tested = await run(promtool as string, ['test', 'rules', 'rules.test.yml'], { cwd: at('deploy/prometheus') });
    expect(tested.stdout + tested.stderr).toMatch(/SUCCESS/);
    expect(tested.code).toBe(0);
  });
});

// ---------------------------------------------------- against a real server

/** Metric families in Prometheus text: name -> type, and the label names seen on samples. */
function families(text: string): { types: Map<string, string>; labels: Map<string, Set<string>> } {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(line);
    if (!sample) continue;
    const family = familyOf(sample[1] as string, types);
    const names = labels.get(family) ?? new Set<string>();
    for (const m of (sample[2] as string).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) names.add(m[1] as string);
    labels.set(family, names);
  }
  return { types, labels };
}

/** `x_bucket` belongs to histogram `x`; any other name is its own family. */
function familyOf(name: string, types: Map<string, string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return !types.has(name) && types.has(base) ? base : name;
}

/** Every series name a family exports: histograms add _bucket, _sum and _count. */
function seriesNames(types: Map<string, string>): Set<string> {
  const out = new Set<string>();
  for (const [name, type] of types) {
    out.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) out.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) out.add(`${name}${suffix}`);
  }
  return out;
}

const METRIC_NAME = /\b(?:flotilla|nodejs|process)_[a-z0-9_]+\b/g;
/** Labels Prometheus itself adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

/**
 * Label names in an expression's selectors and by/without clauses that its
 * metrics do not carry, and label values (where the set is known) that never occur.
 */
function labelProblems(expr: string, types: Map<string, string>, labels: Map<string, Set<string>>, knownValues: Record<string, Record<string, readonly string[]>>): string[] {
  const problems: string[] = [];
  const inExpr = new Set<string>(['le', ...TARGET_LABELS]);
  for (const name of expr.match(METRIC_NAME) ?? []) for (const l of labels.get(familyOf(name, types)) ?? []) inExpr.add(l);
  for (const selector of expr.matchAll(/\b([a-z_][a-z0-9_]*)\{([^}]*)\}/g)) {
    const name = selector[1] as string;
    const family = familyOf(name, types);
    for (const matcher of (selector[2] as string).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
      const [label, op, value] = [matcher[1] as string, matcher[2] as string, matcher[3] as string];
      if (TARGET_LABELS.includes(label)) continue;
      if (!labels.get(family)?.has(label)) problems.push(`${name}: no label ${label}`);
      const values = knownValues[family]?.[label];
      if (values && (op === '=' || op === '!=') && !values.includes(value)) problems.push(`${name}: ${label}="${value}" never occurs`);
    }
  }
  for (const clause of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const label of (clause[1] as string).split(',').map((l) => l.trim()).filter(Boolean)) if (!inExpr.has(label)) problems.push(`${expr}: no label ${label}`);
  }
  return problems;
}

describe('against a running server', () => {
  const TOKEN = randomBytes(24).toString('base64url');
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer({ env: { FLOTILLA_METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('rules.yml uses only metric names, labels and label values the server exports', async () => {
    const res = await t.client().get('/metrics', { bearer: TOKEN, cookies: false });
    expect(res.status).toBe(200);
    const { types, labels } = families(res.text);
    const exported = seriesNames(types);
    // Labelled counters have no samples until they move: their declared labels count too.
    for (const [name, spec] of Object.entries(COUNTERS)) for (const label of spec.labels) labels.set(name, (labels.get(name) ?? new Set()).add(label));
    const knownValues: Record<string, Record<string, readonly string[]>> = {
      // rate_limited refusals go to flotilla_rate_limited_total, not to this counter.
      flotilla_blocked_requests_total: { reason: Object.keys(new PerimeterStats().refused).filter((r) => r !== 'rate_limited') },
      flotilla_agents: { status: MACHINE_STATUSES },
    };

    const rules = (parse(read('deploy/prometheus/rules.yml')) as { groups: Array<{ rules: Array<{ expr: string }> }> }).groups.flatMap((g) => g.rules);
    // Every rule but the scrape-health one (`up`) reads a Flotilla metric.
    for (const { expr } of rules) if (!expr.startsWith('up{')) expect(expr).toMatch(METRIC_NAME);
    const used = rules.flatMap((r) => [...r.expr.matchAll(METRIC_NAME)].map((m) => m[0]));
    expect(used.filter((name) => !exported.has(name))).toEqual([]);

    expect(rules.flatMap((r) => labelProblems(r.expr, types, labels, knownValues))).toEqual([]);
  });

  const healthcheck = (env: Record<string, string>) =>
    run(process.execPath, [at('deploy/docker/healthcheck.mjs')], {
      env: { PATH: process.env.PATH ?? '', FLOTILLA_SERVER_PORT: String(t.server.port), FLOTILLA_DATA_DIR: t.config.dataDir, ...env },
    });

  it('the container health check passes, trusting the certificate the server generated', async () => {
    expect(existsSync(join(t.config.dataDir, 'tls', 'cert.pem'))).toBe(true);
    const ok = await healthcheck({});
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });

  it('the health check fails when the certificate does not verify, and when nothing listens', async () => {
    const other = await ensureSelfSigned({ dir: freshDir('other-tls'), names: [], clock: systemClock });
    const otherCa = join(scratch, 'other-ca.pem');
    writeFileSync(otherCa, other.certPem);
    const untrusted = await healthcheck({ HEALTHCHECK_CA: otherCa });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/^healthcheck: .*(certificate|self.signed)/i);
    const wrongName = await healthcheck({ HEALTHCHECK_SERVERNAME: 'not-this-server.example' });
    expect(wrongName.code).toBe(1);
    expect(wrongName.stderr).toMatch(/altnames|does not match/i);
    const closed = await healthcheck({ FLOTILLA_SERVER_PORT: String(await freePort()) });
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/ECONNREFUSED/);
    const noCert = await healthcheck({ FLOTILLA_DATA_DIR: freshDir('empty-data') });
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toMatch(/cannot read .*cert\.pem \(ENOENT\)/);
  });

  it('the health check source never turns verification off', () => {
    expect(read('deploy/docker/healthcheck.mjs')).not.toMatch(/rejectUnauthorized|NODE_TLS_REJECT_UNAUTHORIZED|checkServerIdentity/);
  });
});

// ----------------------------------------------------------------- Compose

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number | boolean> | string[];
  secrets?: Array<string | { source: string }>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: unknown };
  volumes?: string[];
}

const compose = parse(read('deploy/compose/compose.yaml'), { merge: true }) as { services: Record<string, ComposeService>; secrets: Record<string, { file: string }> };
const FLOTILLA_IMAGE = 'flotilla:local';
const flotillaServices = Object.entries(compose.services).filter(([, s]) => s.image === FLOTILLA_IMAGE);

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

const secretNames = (service: ComposeService) => (service.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source));
const urlUser = (url: string) => decodeURIComponent(new URL(url).username);
const isNode = (service: ComposeService) => service.command === undefined;

describe('deploy/compose', () => {
  let secretsDir: string;

  beforeAll(async () => {
    if (!openssl) return;
    secretsDir = join(freshDir('compose'), 'secrets');
    const generated = await run('sh', [at('deploy/compose/generate-secrets.sh'), secretsDir]);
    if (generated.code !== 0) throw new Error(`generate-secrets.sh failed: ${generated.stderr}`);
  });

  it('builds every Flotilla service from deploy/docker/Dockerfile: a migration job and two nodes', () => {
    expect(flotillaServices.map(([name]) => name).sort()).toEqual(['flotilla-1', 'flotilla-2', 'migrate']);
    for (const [, service] of flotillaServices) expect(service.build).toEqual({ context: '../..', dockerfile: 'deploy/docker/Dockerfile' });
    expect(existsSync(at('deploy/docker/Dockerfile'))).toBe(true);
    expect(compose.services['migrate']?.command).toEqual(['migrate']);
  });

  it('waits on healthy dependencies, and every long-running service has a health check', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (name !== 'migrate') expect(service.healthcheck?.test, `${name} healthcheck`).toBeDefined();
      if (Array.isArray(service.depends_on)) throw new Error(`${name}: depends_on without conditions`);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        const target = compose.services[dependency];
        expect(target, `${name} depends on ${dependency}`).toBeDefined();
        const expected = dependency === 'migrate' ? 'service_completed_successfully' : 'service_healthy';
        expect(condition, `${name} -> ${dependency}`).toBe(expected);
      }
    }
    for (const [name, service] of flotillaServices.filter(([, s]) => isNode(s))) {
      expect(Object.keys(service.depends_on ?? {}).sort(), name).toEqual(['migrate', 'postgres', 'redis']);
    }
  });

  it('declares every secret a service reads, each from a file in ./secrets', () => {
    const secretPaths = (text: string) => [...text.matchAll(/\/run\/secrets\/([a-z0-9_]+)/g)].map((m) => m[1] as string);
    const reads = new Map<string, string[]>();
    for (const [name, service] of Object.entries(compose.services)) {
      // Environment, command and health check; for postgres also the init script it mounts.
      const mounted = (service.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => read(`deploy/compose/${v.slice(2, v.indexOf(':'))}`));
      reads.set(name, secretPaths([JSON.stringify(service), ...mounted].join('\n')));
      for (const secret of reads.get(name) ?? []) {
        expect(secretNames(service), `${name} mounts ${secret}`).toContain(secret);
        expect(compose.secrets[secret]?.file, `top-level secret ${secret}`).toBe(`./secrets/${secret}`);
      }
    }
    expect(reads.get('redis')).toContain('redis_password');
    expect(reads.get('postgres')).toEqual(expect.arrayContaining(['postgres_owner_password', 'postgres_app_password']));
  });

  it.skipIf(!openssl)('generate-secrets.sh writes every declared secret: base64url, 0444 in a 0700 directory, URLs matching the passwords', async () => {
    expect(readdirSync(secretsDir).sort()).toEqual(Object.keys(compose.secrets).sort());
    expect(statSync(secretsDir).mode & 0o777).toBe(0o700);
    const value = (name: string) => readFileSync(join(secretsDir, name), 'utf8').trimEnd();
    for (const name of readdirSync(secretsDir)) {
      expect(statSync(join(secretsDir, name)).mode & 0o777, name).toBe(0o444);
      if (!name.endsWith('_url')) expect(value(name), name).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(new URL(value('database_url')).password).toBe(value('postgres_app_password'));
    expect(new URL(value('database_owner_url')).password).toBe(value('postgres_owner_password'));
    expect(new URL(value('redis_url')).password).toBe(value('redis_password'));
    // Never overwrites: new secrets would lock out every password and agent.
    const before = value('flotilla_pepper');
    expect((await run('sh', [at('deploy/compose/generate-secrets.sh'), secretsDir])).code).toBe(1);
    expect(value('flotilla_pepper')).toBe(before);
  });

  it.skipIf(!openssl)('every Flotilla service environment loads through the real config loader; the nodes hold every cluster secret', async () => {
    const hostPath = (p: string) => (p.startsWith('/run/secrets/') ? join(secretsDir, basename(p)) : undefined);
    const users = new Map<string, string>();
    for (const [name, service] of flotillaServices) {
      const loaded = await loadEnvironment(environmentOf(service), { dataDir: freshDir(`${name}-data`), scratch: freshDir(name), hostPath });
      expect(loaded.unknown, name).toEqual([]);
      expect(loaded.notApplied, name).toEqual([]);
      expect(isClusterMode(loaded.config), name).toBe(true);
      users.set(name, urlUser(loaded.config.database.url as string));
      if (!isNode(service)) continue;
      expect(loaded.config.redis.url, name).toMatch(/^rediss?:\/\/:[^@]+@/);
      const secrets = await resolveSecrets(loaded.config, { clusterMode: true });
      expect(() => fleetKeys(secrets), name).not.toThrow();
    }
    // Least privilege: the owner migrates, the nodes use the role initdb creates.
    const postgres = compose.services['postgres'] as ComposeService;
    expect(users.get('migrate')).toBe(environmentOf(postgres)['POSTGRES_USER']);
    const appRole = /CREATE ROLE (\w+) LOGIN/.exec(read('deploy/compose/initdb/10-flotilla-app-role.sql'))?.[1];
    expect(appRole).toBeDefined();
    expect(users.get('flotilla-1')).toBe(appRole);
    expect(users.get('flotilla-2')).toBe(appRole);
  });
});

// ----------------------------------------------------------------- systemd

const unit = (rel: string) => unitSection(read(rel), 'Service');
const last = (service: Map<string, string[]>, key: string) => service.get(key)?.at(-1);

/** Loads a unit's (and its drop-ins') environment with every credential given a placeholder file. */
async function loadUnit(name: string, services: Array<Map<string, string[]>>) {
  const env = Object.assign({}, ...services.map(unitEnvironment)) as Record<string, string>;
  const credentials = new Map(services.flatMap((s) => [...unitCredentials(s)]));
  const referenced = Object.values(env).flatMap((v) => [...v.matchAll(/%d\/([^\s/]+)/g)].map((m) => m[1] as string));
  expect(referenced.filter((id) => !credentials.has(id)), `${name}: %d/… without LoadCredential`).toEqual([]);
  expect([...credentials.keys()].filter((id) => !referenced.includes(id)), `${name}: LoadCredential nobody reads`).toEqual([]);
  return loadEnvironment(env, { dataDir: freshDir(`${name}-data`), scratch: freshDir(name) });
}

describe('deploy/systemd', () => {
  const server = unit('deploy/systemd/flotilla.service');
  const cluster = unit('deploy/systemd/flotilla.service.d/cluster.conf');
  const agent = unit('deploy/systemd/flotilla-agent.service');

  const SANDBOX: Record<string, string> = {
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    PrivateTmp: 'yes',
    PrivateDevices: 'yes',
    ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes',
    ProtectKernelLogs: 'yes',
    ProtectControlGroups: 'yes',
    CapabilityBoundingSet: '',
    UMask: '0077',
    Restart: 'on-failure',
  };

  for (const [name, service, own] of [
    ['flotilla.service', server, { ProtectHome: 'yes', RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX', StateDirectory: 'flotilla' }],
    // The agent reads the host: /home read-only (disk usage), netlink for the interface list.
    ['flotilla-agent.service', agent, { ProtectHome: 'read-only', RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX AF_NETLINK', StateDirectory: 'flotilla-agent' }],
  ] as const) {
    it(`${name}: sandboxed, never MemoryDenyWriteExecute (V8 needs W+X), a dedicated user`, () => {
      for (const [key, value] of Object.entries({ ...SANDBOX, ...own })) expect(last(service, key), key).toBe(value);
      expect(service.get('SystemCallFilter')?.[0]).toBe('@system-service');
      expect(service.has('MemoryDenyWriteExecute')).toBe(false);
      const user = last(service, 'User');
      expect(user).toMatch(/^flotilla/);
      expect(['root', '0']).not.toContain(user);
      expect(service.has('DynamicUser')).toBe(false);
    });
  }

  it('flotilla.service runs the server on its state directory and takes secrets as credentials', () => {
    expect(last(server, 'ExecStart')).toMatch(/ server --data-dir \/var\/lib\/flotilla$/);
    expect(unitEnvironment(server)['FLOTILLA_METRICS_TOKEN_FILE']).toBe('%d/metrics-token');
    expect(read('deploy/fail2ban/jail.d/flotilla.conf')).toMatch(/^logpath\s*=\s*\/var\/lib\/flotilla\/logs\/security\.log$/m);
  });

  it('flotilla-agent.service runs the agent on its own state directory', () => {
    expect(last(agent, 'ExecStart')).toMatch(/ agent run --state-dir \/var\/lib\/flotilla-agent$/);
  });

  it('flotilla.service: every variable is a setting the loader applies (embedded mode)', async () => {
    const loaded = await loadUnit('flotilla.service', [server]);
    expect(loaded.unknown).toEqual([]);
    expect(loaded.notApplied).toEqual([]);
    expect(isClusterMode(loaded.config)).toBe(false);
    expect(loaded.config.metrics.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(loaded.config.localAgent).toBe(false);
  });

  it('with cluster.conf: cluster mode, and every secret a cluster node needs is supplied', async () => {
    const loaded = await loadUnit('flotilla.service+cluster.conf', [server, cluster]);
    expect(loaded.unknown).toEqual([]);
    expect(loaded.notApplied).toEqual([]);
    expect(isClusterMode(loaded.config)).toBe(true);
    expect(() => fleetKeys({ e2ee: loaded.config.secrets.e2ee as string, commandSigning: loaded.config.secrets.commandSigning as string })).not.toThrow();
    await expect(resolveSecrets(loaded.config, { clusterMode: true })).resolves.toBeDefined();
  });

  it('flotilla-agent.service sets no variable the loader does not know', async () => {
    const loaded = await loadUnit('flotilla-agent.service', [agent]);
    expect(loaded.unknown).toEqual([]);
  });

  it.skipIf(!systemdAnalyze)('systemd-analyze verifies the units without a warning; exposure at most 2.0', async () => {
    const dir = freshDir('systemd');
    mkdirSync(join(dir, 'flotilla.service.d'));
    // ExecStart's interpreter must exist for verify: use this node.
    const place = (rel: string, to: string) => writeFileSync(join(dir, to), read(rel).replaceAll('/usr/bin/node', process.execPath));
    place('deploy/systemd/flotilla.service', 'flotilla.service');
    place('deploy/systemd/flotilla.service.d/cluster.conf', 'flotilla.service.d/cluster.conf');
    place('deploy/systemd/flotilla-agent.service', 'flotilla-agent.service');
    const env = { PATH: process.env.PATH ?? '', SYSTEMD_LOG_COLOR: '0' };
    for (const name of ['flotilla.service', 'flotilla-agent.service']) {
      const verified = await run(systemdAnalyze as string, ['verify', '--man=no', join(dir, name)], { cwd: dir, env });
      expect(verified.stderr, name).toBe('');
      expect(verified.code, name).toBe(0);
      // Exposure is reported ×10 internally: 20 is the "2.0" systemd-analyze prints.
      const security = await run(systemdAnalyze as string, ['security', '--offline=yes', '--threshold=20', join(dir, name)], { cwd: dir, env });
      expect(security.code, `${name}: ${security.stdout.split('\n').find((l) => l.includes('Overall')) ?? security.stderr}`).toBe(0);
    }
  });
});

// ------------------------------------------------------------------ Docker

describe('deploy/docker', () => {
  const stages = dockerStages(read('deploy/docker/Dockerfile'));
  const [build, runtime] = stages as [DockerStage, DockerStage];
  const args = (stage: DockerStage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

  it('builds in a node:20-bookworm-slim stage: native toolchain, npm ci, build, then prune the dev dependencies', () => {
    expect(stages).toHaveLength(2);
    for (const stage of stages) expect(stage.from).toBe('node:20-bookworm-slim');
    const script = args(build, 'RUN').join('\n');
    for (const tool of ['python3', 'make', 'g++']) expect(script).toContain(tool);
    const order = ['npm ci', 'npm run build', 'npm prune --omit=dev'].map((step) => script.indexOf(step));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('runs as a fixed non-root uid with a health check, /data as the volume and data dir, port 8768', () => {
    // Numeric, so Kubernetes' runAsNonRoot can check it; never 0.
    const [uid, gid] = (args(runtime, 'USER').at(-1) ?? '').split(':');
    for (const id of [uid, gid]) expect(id).toMatch(/^[1-9][0-9]*$/);
    const runs = args(runtime, 'RUN').join('\n');
    expect(runs).toContain(`--uid ${uid} `);
    expect(runs).toContain(`--gid ${gid} `);
    const health = args(runtime, 'HEALTHCHECK').at(-1) ?? '';
    const command = execForm(health.slice(health.indexOf('CMD') + 3).trim());
    expect(command[0]).toBe('node');
    expect(args(runtime, 'COPY')).toContain(`deploy/docker/healthcheck.mjs ${command[1]}`);
    expect(args(runtime, 'VOLUME')).toEqual(['/data']);
    expect(args(runtime, 'EXPOSE')).toEqual(['8768']);
    expect(execForm(args(runtime, 'ENTRYPOINT').at(-1) ?? '[]')).toEqual(['node', '/app/bin/flotilla.js']);
    expect(execForm(args(runtime, 'CMD').at(-1) ?? '[]')).toEqual(['server', '--data-dir', '/data']);
  });

  it('copies only the build output into the runtime stage, and the build finds every file it copies', () => {
    expect(args(runtime, 'COPY').filter((a) => a.startsWith('--from=build')).map((a) => a.split(/\s+/)[1]).sort()).toEqual(
      ['/app/bin', '/app/dist', '/app/node_modules', '/app/package.json'].sort(),
    );
    const patterns = dockerignorePatterns(read('.dockerignore'));
    for (const stage of stages) {
      for (const copy of args(stage, 'COPY').filter((a) => !a.startsWith('--from='))) {
        const sources = copy.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1);
        for (const source of sources) {
          expect(existsSync(at(source)), `${source} exists`).toBe(true);
          expect(inBuildContext(source, patterns), `${source} is in the build context`).toBe(true);
        }
      }
    }
    for (const excluded of ['node_modules', 'data', 'dist', 'test-results', '.git', 'deploy/compose/secrets']) {
      expect(inBuildContext(excluded, patterns), `${excluded} stays out`).toBe(false);
    }
  });

  it('sets only variables the config loader knows in the runtime stage', async () => {
    const env = dockerEnv(runtime);
    expect(env['FLOTILLA_DATA_DIR']).toBe('/data');
    const loaded = await loadEnvironment(env, { dataDir: freshDir('docker-data'), scratch: freshDir('docker') });
    expect(loaded.unknown).toEqual([]);
    expect(loaded.notApplied).toEqual([]);
    expect(loaded.config.dataDir).toBe('/data');
  });
});
