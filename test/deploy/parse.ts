/**
 * Small readers for the deployment files the deploy suite checks: Dockerfile
 * stages, systemd unit settings and Environment= assignments, .dockerignore.
 * Each handles the subset of its format deploy/ uses, and throws on anything
 * it does not understand rather than guessing.
 */

export interface DockerInstruction {
  /** Upper-case keyword: FROM, RUN, COPY, ENV, … */
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
}

export interface DockerStage {
  from: string;
  name: string | undefined;
  instructions: DockerInstruction[];
}

/** Instructions with `\` continuations joined and comments dropped. */
export function dockerInstructions(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const match = /^([A-Za-z]+)\s+(.*)$/s.exec(full);
    if (!match) throw new Error(`Dockerfile: cannot read "${full}"`);
    out.push({ keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).trim() });
  }
  if (pending !== '') throw new Error('Dockerfile: ends inside a continued line');
  return out;
}

export function dockerStages(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  for (const instruction of dockerInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const [from, as, name] = instruction.args.split(/\s+/);
      stages.push({ from: from as string, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = stages[stages.length - 1];
      if (!stage) throw new Error(`Dockerfile: ${instruction.keyword} before FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** Splits shell-like words, honouring double quotes and backslash escapes (enough for ENV and Environment=). */
function words(text: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && quoted) {
      word = (word ?? '') + (text[++i] ?? '');
    } else if (c === '"') {
      quoted = !quoted;
      word ??= '';
    } else if (/\s/.test(c) && !quoted) {
      if (word !== null) out.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quoted) throw new Error(`unterminated quote in: ${text}`);
  if (word !== null) out.push(word);
  return out;
}

/** `ENV A=1 B="two words"` (the key=value form; the legacy `ENV A 1` form is refused). */
export function dockerEnv(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    for (const word of words(args)) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw new Error(`Dockerfile: ENV ${args}: use the KEY=value form`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** A JSON-array (exec form) argument such as `["node", "/app/healthcheck.mjs"]`. */
export function execForm(text: string): string[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new Error(`not an exec-form array: ${text}`);
  return parsed as string[];
}

/** Settings of one section of a systemd unit (or drop-in), each key with all its values in order. */
export function unitSection(text: string, section: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1] as string;
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`unit: cannot read "${line}"`);
    const key = line.slice(0, eq).trim();
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return settings;
}

/** Every `Environment=` assignment of a [Service] section, later ones winning. */
export function unitEnvironment(service: Map<string, string[]>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of service.get('Environment') ?? []) {
    for (const word of words(value)) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw new Error(`unit: Environment=${value}: expected NAME=value`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** `LoadCredential=ID:PATH` entries, by id. */
export function unitCredentials(service: Map<string, string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of service.get('LoadCredential') ?? []) {
    const colon = value.indexOf(':');
    if (colon <= 0) throw new Error(`unit: LoadCredential=${value}: expected ID:PATH`);
    out.set(value.slice(0, colon), value.slice(colon + 1));
  }
  return out;
}

/** Patterns of a .dockerignore, in order, `!` exceptions marked. */
export function dockerignorePatterns(text: string): Array<{ pattern: string; exception: boolean }> {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => (l.startsWith('!') ? { pattern: l.slice(1), exception: true } : { pattern: l, exception: false }))
    .map(({ pattern, exception }) => ({ pattern: pattern.replace(/^\/+|\/+$/g, ''), exception }));
}

/**
 * Whether .dockerignore leaves `path` in the build context. Literal patterns
 * only (a path or a parent directory); a glob pattern is refused, since this
 * check would not understand it.
 */
export function inBuildContext(path: string, patterns: Array<{ pattern: string; exception: boolean }>): boolean {
  let included = true;
  for (const { pattern, exception } of patterns) {
    if (/[*?[\]]/.test(pattern)) {
      // A glob that only matches file names (`*.log`, `.env.*`) cannot exclude a directory we copy by name.
      if (/^[^/]*$/.test(pattern) && !path.split('/').some((segment) => globMatches(pattern, segment))) continue;
      throw new Error(`.dockerignore pattern "${pattern}" may match ${path}; extend this check before using it`);
    }
    if (path === pattern || path.startsWith(`${pattern}/`)) included = exception;
  }
  return included;
}

/** `*` and `?` wildcards within one path segment, as .dockerignore uses them. */
function globMatches(glob: string, name: string): boolean {
  if (glob === '') return name === '';
  const [head, rest] = [glob[0], glob.slice(1)];
  if (head === '*') return globMatches(rest, name) || (name !== '' && globMatches(glob, name.slice(1)));
  return name !== '' && (head === '?' || head === name[0]) && globMatches(rest, name.slice(1));
}
