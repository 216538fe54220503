import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findWasmBundle, loadOpaWasmPolicy, type OpaWasmPolicyEngine } from './opa-wasm-policy-engine.js';
import { assembleTestPolicyWasm } from './testing/opa-abi-policy.js';

const ALLOWED = { defined: true, value: { allow: true, reason: 'admin' } };
const DENIED = { defined: true, value: { allow: false, reason: 'denied' } };
const ENTRYPOINTS = [
  'cpod/authz/abort',
  'cpod/authz/decision',
  'cpod/authz/spin',
  'cpod/authz/trap',
  'cpod/config',
];

let root: string;
let wasm: Uint8Array;
let counter = 0;

/** A fresh directory per case so archives never pick up another test's files. */
function freshDir(files: Record<string, string | Uint8Array> = {}): string {
  const dir = join(root, `case-${++counter}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Runs the system `tar` in `dir`, writing `bundle.tar.gz` into a separate output directory. */
function tarGz(dir: string, args: string[]): string {
  const out = join(freshDir(), 'bundle.tar.gz');
  execFileSync('tar', ['-czf', out, ...args], { cwd: dir });
  return out;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'opa-wasm-engine-'));
  wasm = await assembleTestPolicyWasm();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('loadOpaWasmPolicy(policy.wasm)', () => {
  let engine: OpaWasmPolicyEngine;

  beforeAll(async () => {
    engine = await loadOpaWasmPolicy(join(freshDir({ 'policy.wasm': wasm }), 'policy.wasm'));
  });

  it('lists the file and its entrypoints', () => {
    expect(engine.entrypoints).toEqual(ENTRYPOINTS);
    expect(engine.modules).toEqual(['policy.wasm', ...ENTRYPOINTS]);
  });

  it('allows the admin input', () => {
    expect(engine.evaluate('cpod.authz.decision', { role: 'admin' })).toEqual(ALLOWED);
  });

  it('denies every other input', () => {
    expect(engine.evaluate('cpod.authz.decision', { role: 'user' })).toEqual(DENIED);
    expect(engine.evaluate('cpod.authz.decision', { role: 'admin', extra: 1 })).toEqual(DENIED);
    expect(engine.evaluate('cpod.authz.decision', { role: 'Admin' })).toEqual(DENIED);
  });

  it('passes falsy inputs to the policy instead of dropping them', () => {
    // opa-wasm on its own would treat these as "no input" and the rule would be undefined.
    for (const input of [null, false, 0, '']) {
      expect(engine.evaluate('cpod.authz.decision', input)).toEqual(DENIED);
    }
  });

  it('maps an empty result set to undefined', () => {
    expect(engine.evaluate('cpod.authz.decision', undefined)).toEqual({ defined: false });
  });

  it('accepts every spelling of the path', () => {
    for (const path of [
      'data.cpod.authz.decision',
      'cpod.authz.decision',
      'cpod/authz/decision',
      'data/cpod/authz/decision',
    ]) {
      expect(engine.evaluate(path, { role: 'admin' })).toEqual(ALLOWED);
      expect(engine.evaluate(path, { role: 'guest' })).toEqual(DENIED);
    }
  });

  it('names the path and the available entrypoints for an unknown entrypoint', () => {
    expect(() => engine.evaluate('data.cpod.authz.missing', {})).toThrowError(
      'no wasm entrypoint for policy path data.cpod.authz.missing (looked for cpod/authz/missing); ' +
        `available entrypoints: ${ENTRYPOINTS.join(', ')}`,
    );
  });

  it('uses the default empty data when none is loaded', () => {
    expect(engine.evaluate('cpod.config', {})).toEqual({ defined: true, value: {} });
  });

  it('turns opa_abort into an Error and stays usable', () => {
    let thrown: unknown;
    try {
      engine.evaluate('cpod.authz.abort', {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toBe(
      'opa-wasm evaluation of cpod.authz.abort failed: cpod/authz/abort: aborted on purpose',
    );
    expect(engine.evaluate('cpod.authz.decision', { role: 'admin' })).toEqual(ALLOWED);
  });

  it('turns a wasm trap into an Error and stays usable', () => {
    expect(() => engine.evaluate('cpod/authz/trap', {})).toThrowError(
      /^opa-wasm evaluation of cpod\/authz\/trap failed: .*unreachable/,
    );
    expect(engine.evaluate('cpod.authz.decision', { role: 'user' })).toEqual(DENIED);
  });
});

describe('loadOpaWasmPolicy(bundle.tar.gz)', () => {
  const data = { cpod: { tenants: ['acme', 'globex'] } };

  async function expectBundleWorks(file: string, expectedData: unknown = data): Promise<void> {
    const engine = await loadOpaWasmPolicy(file);
    expect(engine.modules).toEqual(['bundle.tar.gz', ...ENTRYPOINTS]);
    expect(engine.evaluate('data.cpod.config', {})).toEqual({ defined: true, value: expectedData });
    expect(engine.evaluate('data.cpod.authz.decision', { role: 'admin' })).toEqual(ALLOWED);
    expect(engine.evaluate('data.cpod.authz.decision', { role: 'user' })).toEqual(DENIED);
  }

  it('loads policy.wasm and data.json from a tar czf archive', async () => {
    const dir = freshDir({ 'policy.wasm': wasm, 'data.json': JSON.stringify(data) });
    await expectBundleWorks(tarGz(dir, ['policy.wasm', 'data.json']));
  });

  it('runs without data when the bundle has no data.json', async () => {
    const dir = freshDir({ 'policy.wasm': wasm });
    await expectBundleWorks(tarGz(dir, ['policy.wasm']), {});
  });

  it('accepts ./-prefixed names and directory entries', async () => {
    const dir = freshDir({ 'policy.wasm': wasm, 'data.json': JSON.stringify(data), 'sub/other.txt': 'x' });
    await expectBundleWorks(tarGz(dir, ['.']));
  });

  it('skips pax global and extended headers and honours long names', async () => {
    const deep = `${'d'.repeat(120)}/${'e'.repeat(90)}.json`;
    const dir = freshDir({
      [deep]: '{"nested":true}',
      'policy.wasm': wasm,
      'data.json': JSON.stringify(data),
    });
    const file = tarGz(dir, [
      '--format=pax',
      '--pax-option=comment=cpod-test',
      'd'.repeat(120),
      'policy.wasm',
      'data.json',
    ]);
    const types = tarTypes(gunzipSync(readFileSync(file)));
    expect(types).toContain('g');
    expect(types).toContain('x');
    await expectBundleWorks(file);
  });

  it('takes the entry name from a pax path record', async () => {
    // The ustar header says other.bin; only the pax record says policy.wasm.
    const dir = freshDir({ 'other.bin': wasm });
    await expectBundleWorks(tarGz(dir, ['--format=pax', '--pax-option=path:=policy.wasm', 'other.bin']), {});
  });

  it('skips GNU long-name entries', async () => {
    const deep = `${'d'.repeat(120)}/${'e'.repeat(90)}.json`;
    const dir = freshDir({
      [deep]: '{"nested":true}',
      'policy.wasm': wasm,
      'data.json': JSON.stringify(data),
    });
    const file = tarGz(dir, ['--format=gnu', 'd'.repeat(120), 'policy.wasm', 'data.json']);
    expect(tarTypes(gunzipSync(readFileSync(file)))).toContain('L');
    await expectBundleWorks(file);
  });

  it('grows wasm memory for data larger than the initial 320 KiB', async () => {
    const big = { cpod: { blob: 'x'.repeat(1_000_000) } };
    const dir = freshDir({ 'policy.wasm': wasm, 'data.json': JSON.stringify(big) });
    await expectBundleWorks(tarGz(dir, ['policy.wasm', 'data.json']), big);
  });

  it('rejects a bundle without policy.wasm, naming the file', async () => {
    const dir = freshDir({ 'data.json': JSON.stringify(data), 'policy.rego': 'package cpod' });
    const file = tarGz(dir, ['data.json', 'policy.rego']);
    await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(
      `OPA bundle ${file} contains no /policy.wasm (found: data.json, policy.rego); build it with opa build -t wasm`,
    );
  });

  it('reports names longer than 100 bytes in full (GNU, pax and ustar prefix)', async () => {
    // The error lists every entry name, so a truncated ustar name field would show up here.
    const deep = `${'d'.repeat(120)}/${'e'.repeat(90)}.json`;
    const dir = freshDir({ [deep]: '{}' });
    for (const format of ['--format=gnu', '--format=pax', '--format=ustar']) {
      const file = tarGz(dir, [format, deep]);
      await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(`(found: ${deep});`);
    }
  });

  it('rejects a bundle whose data.json is not a JSON object', async () => {
    const broken = freshDir({ 'policy.wasm': wasm, 'data.json': '{"cpod": ' });
    const brokenFile = tarGz(broken, ['policy.wasm', 'data.json']);
    await expect(loadOpaWasmPolicy(brokenFile)).rejects.toThrowError(
      new RegExp(`^OPA bundle ${escapeRegExp(brokenFile)}: /data.json is not valid JSON`),
    );
    const array = freshDir({ 'policy.wasm': wasm, 'data.json': '[1]' });
    const arrayFile = tarGz(array, ['policy.wasm', 'data.json']);
    await expect(loadOpaWasmPolicy(arrayFile)).rejects.toThrowError(
      `OPA bundle ${arrayFile}: /data.json must contain a JSON object`,
    );
  });

  it('rejects a file that is not gzip', async () => {
    const file = join(freshDir({ 'bundle.tar.gz': 'not gzip at all' }), 'bundle.tar.gz');
    await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(
      new RegExp(`^cannot read OPA bundle ${escapeRegExp(file)}: `),
    );
  });

  it('rejects a tar with a corrupted header', async () => {
    const dir = freshDir({ 'policy.wasm': wasm });
    const tar = gunzipSync(readFileSync(tarGz(dir, ['policy.wasm'])));
    tar[0] = tar[0]! ^ 0x20; // flip a bit in the first entry's name
    const file = join(freshDir({ 'bundle.tar.gz': gzipSync(tar) }), 'bundle.tar.gz');
    await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(
      `cannot read OPA bundle ${file}: corrupt tar header at offset 0 (checksum mismatch)`,
    );
  });

  it('rejects a truncated tar', async () => {
    const dir = freshDir({ 'policy.wasm': wasm });
    const tar = gunzipSync(readFileSync(tarGz(dir, ['policy.wasm'])));
    const file = join(freshDir({ 'bundle.tar.gz': gzipSync(tar.subarray(0, 600)) }), 'bundle.tar.gz');
    await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(
      `cannot read OPA bundle ${file}: truncated tar entry at offset 0`,
    );
  });
});

describe('loadOpaWasmPolicy errors', () => {
  it('rejects a corrupted wasm module, naming the file', async () => {
    const corrupted = Uint8Array.from(wasm);
    corrupted.set([0xde, 0xad, 0xbe, 0xef], 8); // overwrite the first section header
    const file = join(freshDir({ 'policy.wasm': corrupted }), 'policy.wasm');
    await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(
      new RegExp(`^cannot load opa-wasm policy ${escapeRegExp(file)}: .*WebAssembly`),
    );
  });

  it('rejects a file that is not wasm at all', async () => {
    const file = join(freshDir({ 'policy.wasm': 'package cpod.authz' }), 'policy.wasm');
    await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(
      new RegExp(`^cannot load opa-wasm policy ${escapeRegExp(file)}: `),
    );
  });

  it('reports a missing file with its path', async () => {
    const file = join(freshDir(), 'policy.wasm');
    await expect(loadOpaWasmPolicy(file)).rejects.toThrowError(file);
  });
});

describe('findWasmBundle', () => {
  it('returns undefined when there is no compiled policy', () => {
    expect(findWasmBundle(freshDir({ 'authz.rego': 'package cpod.authz' }))).toBeUndefined();
    expect(findWasmBundle(join(root, 'does-not-exist'))).toBeUndefined();
  });

  it('finds policy.wasm', () => {
    const dir = freshDir({ 'policy.wasm': wasm });
    expect(findWasmBundle(dir)).toBe(join(dir, 'policy.wasm'));
  });

  it('finds bundle.tar.gz', () => {
    const dir = freshDir({ 'bundle.tar.gz': 'x' });
    expect(findWasmBundle(dir)).toBe(join(dir, 'bundle.tar.gz'));
  });

  it('prefers bundle.tar.gz over policy.wasm', () => {
    const dir = freshDir({ 'policy.wasm': wasm, 'bundle.tar.gz': 'x' });
    expect(findWasmBundle(dir)).toBe(join(dir, 'bundle.tar.gz'));
  });

  it('looks only at regular files on the top level', () => {
    const dir = freshDir({ 'sub/policy.wasm': wasm, 'policy.wasm/inner': 'x' });
    expect(findWasmBundle(dir)).toBeUndefined();
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Type flags of every header in an uncompressed tar, to prove the archive has the shape under test. */
function tarTypes(tar: Uint8Array): string[] {
  const types: string[] = [];
  let offset = 0;
  while (offset + 512 <= tar.length && tar[offset] !== 0) {
    const size = Number.parseInt(new TextDecoder().decode(tar.subarray(offset + 124, offset + 135)), 8);
    types.push(String.fromCharCode(tar[offset + 156]!));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return types;
}
