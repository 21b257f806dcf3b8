// Settings for our programs: every setting is a command-line flag and an environment variable,
// validated at start with a message that names the flag. `--help` prints the table.

export interface FlagSpec<T> {
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  readonly defaultValue: T | undefined;
  readonly parse: (raw: string) => T;
  /** A switch: `--flag` alone means true (`--flag=false` and the env variable still work). */
  readonly switch?: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Specs = Record<string, FlagSpec<unknown>>;
export type ParsedFlags<S extends Specs> = { [K in keyof S]: S[K] extends FlagSpec<infer T> ? T : never };

export function stringFlag(flag: string, env: string, description: string, defaultValue?: string): FlagSpec<string> {
  return {
    flag,
    env,
    description,
    defaultValue,
    parse: (raw) => {
      if (raw.length === 0) throw new ConfigError(`--${flag} must not be empty`);
      return raw;
    },
  };
}

/** A setting that may be absent (null), e.g. a file that turns a feature on. */
export function optionalStringFlag(flag: string, env: string, description: string): FlagSpec<string | null> {
  return {
    flag,
    env,
    description,
    defaultValue: null,
    parse: (raw) => {
      if (raw.length === 0) throw new ConfigError(`--${flag} must not be empty`);
      return raw;
    },
  };
}

export function integerFlag(flag: string, env: string, description: string, defaultValue: number | undefined, min: number, max: number): FlagSpec<number> {
  return {
    flag,
    env,
    description,
    defaultValue,
    parse: (raw) => {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new ConfigError(`--${flag} must be an integer from ${min} to ${max}, got "${raw}"`);
      }
      return value;
    },
  };
}

/** An on/off setting: `--flag` alone turns it on; `--flag=false` or env `0`/`false` off. */
export function booleanFlag(flag: string, env: string, description: string): FlagSpec<boolean> {
  return {
    flag,
    env,
    description,
    defaultValue: false,
    switch: true,
    parse: (raw) => {
      const value = raw.trim().toLowerCase();
      if (value === 'true' || value === '1' || value === 'yes') return true;
      if (value === 'false' || value === '0' || value === 'no' || value === '') return false;
      throw new ConfigError(`--${flag} is true or false, got "${raw}"`);
    },
  };
}

/** Sizes accept a unit: 4MiB, 512KiB, 1GiB (or plain bytes). */
export function bytesFlag(flag: string, env: string, description: string, defaultValue: number, min: number, max: number): FlagSpec<number> {
  return {
    flag,
    env,
    description,
    defaultValue,
    parse: (raw) => {
      const match = /^(\d+)\s*(B|KiB|MiB|GiB)?$/i.exec(raw.trim());
      const units: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
      const value = match ? Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()] : NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new ConfigError(`--${flag} must be a size from ${min} to ${max} bytes (units B, KiB, MiB, GiB), got "${raw}"`);
      }
      return value;
    },
  };
}

/**
 * Reads `--flag value` / `--flag=value` from argv, then the environment, then the default.
 * Unknown flags and missing required settings are errors.
 */
export function parseFlags<S extends Specs>(specs: S, argv: readonly string[], env: NodeJS.ProcessEnv): ParsedFlags<S> {
  const byFlag = new Map(Object.entries(specs).map(([key, spec]) => [spec.flag, key]));
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}" (flags start with --; see --help)`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const key = byFlag.get(name);
    if (key === undefined) throw new ConfigError(`unknown flag --${name} (see --help)`);
    const value = inline ?? (specs[key].switch === true ? 'true' : argv[++i]);
    if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    raw.set(key, value);
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const text = raw.get(key) ?? env[spec.env];
    if (text !== undefined) out[key] = spec.parse(text);
    else if (spec.defaultValue !== undefined) out[key] = spec.defaultValue;
    else throw new ConfigError(`--${spec.flag} (or ${spec.env}) is required`);
  }
  return out as ParsedFlags<S>;
}

export function helpText(title: string, specs: Specs): string {
  const lines = [title, '', 'Every flag can also be set by its environment variable.', ''];
  for (const spec of Object.values(specs)) {
    const fallback = spec.defaultValue === undefined ? 'required' : spec.defaultValue === null ? 'optional' : `default ${JSON.stringify(spec.defaultValue)}`;
    lines.push(`  --${spec.flag.padEnd(22)} ${spec.env.padEnd(26)} ${spec.description} (${fallback})`);
  }
  return lines.join('\n');
}
