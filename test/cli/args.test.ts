/**
 * The command line's own words: option parsing (unknown options with the
 * nearest known one, missing values, values given to switches, negative
 * numbers), and the one line an error becomes at the top (run.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parse, suggestOption, UsageError, usageErrors } from '../../src/cli/args.js';
import { errorLine, exitCodeOf, reportError } from '../../src/cli/run.js';
import { AlaeError } from '../../src/errors.js';
import { OutputExists } from '../../src/io/outputs.js';
import { RunFolderTaken } from '../../src/train/run-folder.js';

const OPTS = {
  out: { type: 'string' as const, short: 'o' },
  amount: { type: 'string' as const },
  quiet: { type: 'boolean' as const, short: 'q' },
  'batch-size': { type: 'string' as const },
};

describe('parse', () => {
  it('takes known options, short forms, positionals and negative numbers', () => {
    const r = parse(['a.png', '-o', 'x.png', '--amount', '-2', '-q', '--batch-size=4', 'b.png'], OPTS);
    expect(r.values).toEqual({ out: 'x.png', amount: '-2', quiet: true, 'batch-size': '4' });
    expect(r.positionals).toEqual(['a.png', 'b.png']);
    expect(parse(['--amount=-0.5'], OPTS).values.amount).toBe('-0.5');
    expect(parse(['-h'], OPTS).values.help).toBe(true);
  });

  it('an unknown option is a usage error naming the nearest known one', () => {
    expect(() => parse(['--ammount', '2'], OPTS)).toThrow(new UsageError('unknown option --ammount (did you mean --amount?)'));
    expect(() => parse(['--batch', '2'], OPTS)).toThrow(new UsageError('unknown option --batch (did you mean --batch-size?)'));
    expect(() => parse(['--frobnicate'], OPTS)).toThrow(new UsageError('unknown option --frobnicate'));
    expect(() => parse(['-z'], OPTS)).toThrow(new UsageError('unknown option -z'));
  });

  it('a missing value, or a value given to a switch, is a usage error', () => {
    expect(() => parse(['--out'], OPTS)).toThrow(new UsageError('--out needs a value'));
    expect(() => parse(['--out', '--quiet'], OPTS)).toThrow(new UsageError("--out needs a value (got the option --quiet; write --out=--quiet if that is the value)"));
    expect(() => parse(['--quiet=yes'], OPTS)).toThrow(new UsageError("--quiet takes no value (got 'yes')"));
  });

  it('suggests by prefix or by a few edits, never for one letter', () => {
    expect(suggestOption('sedes', ['seeds', 'seed'])).toBe('seeds');
    expect(suggestOption('genrate', ['generate', 'encode'])).toBe('generate');
    expect(suggestOption('rec', ['reconstruct', 'edit'])).toBe('reconstruct');
    expect(suggestOption('x', ['q', 'o'])).toBeNull();
    expect(suggestOption('bogus', ['out', 'amount', 'quiet'])).toBeNull();
  });

  it("usageErrors turns the library's complaints about a value into usage errors", () => {
    expect(() => usageErrors(() => { throw new AlaeError('bad level'); })).toThrow(UsageError);
    expect(() => usageErrors(() => { throw new TypeError('a bug'); })).toThrow(TypeError);
  });
});

describe('one line per error', () => {
  const env = process.env.ALAE_DEBUG;
  afterEach(() => {
    if (env === undefined) delete process.env.ALAE_DEBUG;
    else process.env.ALAE_DEBUG = env;
  });

  it('names the file and the cause; exit 2 for usage, 1 for the rest', () => {
    expect(errorLine(new AlaeError('no face found', 'a.jpg'))).toBe('a.jpg: no face found');
    expect(errorLine(new OutputExists(['x.png']))).toBe('x.png already exists (--force overwrites)');
    expect(errorLine(new OutputExists(['a', 'b', 'c', 'd', 'e']))).toBe('a, b, c and 2 more already exist (--force overwrites)');
    expect(errorLine(new RunFolderTaken('run', 'run/checkpoints/ckpt-1.safetensors', ['latest', 'checkpoints']))).toBe(
      'run: holds a run (latest checkpoint checkpoints/ckpt-1.safetensors) that this one would overwrite; continue it with --resume, or give another --out',
    );
    expect(errorLine(new RunFolderTaken('run', null, ['model.safetensors']))).toBe('run: holds model.safetensors, which a run would overwrite; give another --out');
    const sys = Object.assign(new Error("EACCES: permission denied, open 'out/x.png'"), { code: 'EACCES', syscall: 'open', path: 'out/x.png' });
    expect(errorLine(sys)).toBe('out/x.png: permission denied (EACCES)');
    expect(errorLine(new Error('first line\n    at somewhere (file.js:1:1)'))).toBe('first line');
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new AlaeError('x'))).toBe(1);
    expect(exitCodeOf(new Error('x'))).toBe(1);
  });

  it('prints the stack only with ALAE_DEBUG=1', () => {
    const out: string[] = [];
    const stream = { write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WritableStream;
    const e = new Error('it broke');
    delete process.env.ALAE_DEBUG;
    expect(reportError('alae encode', e, stream)).toBe(1);
    expect(out).toEqual(['alae encode: it broke\n']);
    out.length = 0;
    process.env.ALAE_DEBUG = '1';
    reportError('alae encode', e, stream);
    expect(out[0]).toBe('alae encode: it broke\n');
    expect(out[1]).toContain('    at ');
    out.length = 0;
    expect(reportError('alae mix', new UsageError('--levels takes one level'), stream)).toBe(2);
    expect(out[0]).toBe('alae mix: --levels takes one level (alae mix --help lists the options)\n');
  });
});
