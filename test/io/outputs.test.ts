/**
 * Output checks made before any work (src/io/outputs.ts): a file output,
 * a folder output and the names written there, the folder that will hold
 * them. "Cannot be written" goes through a regular file (the tests may run
 * as root, which ignores permission bits).
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutputFile, checkOutputFolder, OutputExists } from '../../src/io/outputs.js';
import { AlaeError } from '../../src/errors.js';

let tmp: string;
const at = (...p: string[]) => path.join(tmp, ...p);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'alae-outputs-'));
  await writeFile(at('file.png'), 'exists');
  await mkdir(at('dir'));
  await writeFile(at('dir', 'seed0001.png'), 'exists');
  await writeFile(at('dir', 'photo_0.png'), 'exists');
  await writeFile(at('dir', 'notes.txt'), 'not ours');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('checkOutputFile', () => {
  it('passes a new file (in folders not made yet), refuses one that exists unless overwrite, and a folder always', async () => {
    await checkOutputFile(at('new.png'));
    await checkOutputFile(at('a', 'b', 'new.png'));
    await expect(checkOutputFile(at('file.png'))).rejects.toThrow(new OutputExists([at('file.png')]));
    await checkOutputFile(at('file.png'), { overwrite: true });
    await expect(checkOutputFile(at('dir'), { overwrite: true })).rejects.toThrow(`${at('dir')}: is a folder; give a file name`);
    expect(await readdir(tmp)).toEqual(['dir', 'file.png']); // a check creates nothing
  });

  it('refuses a path that goes through a file', async () => {
    const err = await checkOutputFile(at('file.png', 'x', 'out.png')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlaeError);
    expect((err as Error).message).toBe(`${at('file.png', 'x', 'out.png')}: cannot be written: ${at('file.png')} is a file, not a folder`);
  });
});

describe('checkOutputFolder', () => {
  it('names the files it would write that exist, and only those; overwrite lets it write', async () => {
    await checkOutputFolder(at('dir'), ['seed0002.png']);
    await expect(checkOutputFolder(at('dir'), ['seed0001.png', 'seed0002.png'])).rejects.toThrow(`${at('dir', 'seed0001.png')} already exists`);
    await expect(checkOutputFolder(at('dir'), (n) => /^photo_\d+\.png$/.test(n))).rejects.toThrow(`${at('dir', 'photo_0.png')} already exists`);
    await checkOutputFolder(at('dir'), (n) => /^other_\d+\.png$/.test(n));
    await checkOutputFolder(at('dir'), ['seed0001.png'], { overwrite: true });
    await checkOutputFolder(at('new-dir'), ['x.png']);
  });

  it('refuses a file where a folder goes, and a folder under a file', async () => {
    await expect(checkOutputFolder(at('file.png'), [])).rejects.toThrow(`${at('file.png')}: is a file; this job writes a folder of files`);
    await expect(checkOutputFolder(at('file.png', 'sub'), [])).rejects.toThrow(`cannot be written: ${at('file.png')} is a file, not a folder`);
  });
});
