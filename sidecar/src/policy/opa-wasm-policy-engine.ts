import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import type { PolicyEngine, PolicyResult } from './policy-engine.js';

const WASM_FILE = 'policy.wasm';
const BUNDLE_FILE = 'bundle.tar.gz';

/**
 * Finds the compiled policy in `dir` (top level only). When both files are present the bundle wins:
 * it is what `opa build -t wasm` emits and it carries `data.json`, whereas a loose `policy.wasm`
 * next to it is usually a leftover of unpacking that bundle and would silently run without data.
 */
export function findWasmBundle(dir: string): string | undefined {
  for (const name of [BUNDLE_FILE, WASM_FILE]) {
    const path = join(dir, name);
    if (existsSync(path) && statSync(path).isFile()) return path;
  }
  return undefined;
}

/** The library throws strings and plain objects as well as Errors; callers only ever see an Error. */
function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  if (typeof err === 'object' && err !== null && 'message' in err) return String(err.message);
  return String(err);
}

/**
 * `data.cpod.authz.decision`, `cpod.authz.decision` and `cpod/authz/decision` all name the wasm
 * entrypoint `cpod/authz/decision` (that is how `opa build -e` spells entrypoints).
 */
function entrypointName(path: string): string {
  const dotted = path.replace(/^data[./]/, '');
  return dotted.includes('/') ? dotted : dotted.replaceAll('.', '/');
}

const encoder = new TextEncoder();

/**
 * Hands the input over as JSON bytes in a fresh ArrayBuffer. opa-wasm tests `if (input)` and
 * treats every falsy input (`null`, `false`, `0`, `''`) as "no input"; an ArrayBuffer is always
 * truthy, so only a genuinely absent input reaches the policy as undefined.
 */
function inputBuffer(input: unknown): ArrayBuffer | undefined {
  const json = input === undefined ? undefined : JSON.stringify(input);
  if (json === undefined) return undefined;
  const bytes = encoder.encode(json);
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? (bytes.buffer as ArrayBuffer)
    : (bytes.slice().buffer as ArrayBuffer);
}

/**
 * Evaluates entrypoints of one compiled module. `EvaluationOptions.deadline` is not taken: a
 * running wasm call cannot be interrupted from inside, so the pool's watchdog ends the worker.
 */
export class OpaWasmPolicyEngine implements PolicyEngine {
  /** Entrypoint name → id; ids are passed to opa-wasm so evaluation skips its own lookup. */
  private readonly ids: ReadonlyMap<string, number>;
  readonly entrypoints: readonly string[];
  /** The loaded file's name followed by the entrypoint names, for logs and diagnostics. */
  readonly modules: string[];

  constructor(
    private readonly policy: LoadedPolicy,
    source: string,
  ) {
    const entries = Object.entries(policy.entrypoints as Record<string, number>);
    this.ids = new Map(entries);
    this.entrypoints = entries.map(([name]) => name).sort();
    this.modules = [source, ...this.entrypoints];
  }

  evaluate(path: string, input: unknown): PolicyResult {
    const name = entrypointName(path);
    const id = this.ids.get(name);
    if (id === undefined) {
      throw new Error(
        `no wasm entrypoint for policy path ${path} (looked for ${name}); available entrypoints: ${
          this.entrypoints.join(', ') || '(none)'
        }`,
      );
    }
    let resultSet: unknown;
    try {
      resultSet = this.policy.evaluate(inputBuffer(input), id);
    } catch (err) {
      // opa_abort, traps and malformed results all land here; the instance stays usable because
      // every evaluation restarts from the heap pointer saved after setData.
      throw new Error(`opa-wasm evaluation of ${path} failed: ${messageOf(err)}`, { cause: err });
    }
    if (!Array.isArray(resultSet)) {
      throw new Error(
        `opa-wasm evaluation of ${path} returned ${JSON.stringify(resultSet)}, not a result set`,
      );
    }
    if (resultSet.length === 0) return { defined: false };
    return { defined: true, value: (resultSet[0] as { result?: unknown }).result };
  }
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: false });

function cString(bytes: Uint8Array, decoder = utf8): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

/** Octal (space/NUL padded) or, for GNU's large values, base-256 with the high bit set. */
function tarNumber(field: Uint8Array): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const text = cString(field, latin1).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`invalid numeric field ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

/** Records are `"<len> <key>=<value>\n"` where len counts the whole record in bytes. */
function paxRecords(body: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const space = body.indexOf(0x20, pos);
    const length = space === -1 ? Number.NaN : Number(latin1.decode(body.subarray(pos, space)));
    if (!Number.isInteger(length) || length <= 0 || pos + length > body.length) {
      throw new Error('invalid pax extended header');
    }
    const record = utf8.decode(body.subarray(space + 1, pos + length - 1));
    const eq = record.indexOf('=');
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return records;
}

/**
 * A minimal ustar/pax/GNU reader: enough for `opa build` bundles and archives made with `tar czf`,
 * without adding a dependency. Later entries replace earlier ones of the same name, as when extracting.
 */
function readTar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let globalPax: Record<string, string> = {};
  let localPax: Record<string, string> = {};
  let longName: string | undefined;
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    // A zero block marks the end; some writers emit only one of the two.
    if (header.every((byte) => byte === 0)) break;

    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < 512; i++) {
      const byte = i >= 148 && i < 156 ? 0x20 : header[i]!;
      unsigned += byte;
      signed += byte > 127 ? byte - 256 : byte;
    }
    const checksum = tarNumber(header.subarray(148, 156));
    if (checksum !== unsigned && checksum !== signed) {
      throw new Error(`corrupt tar header at offset ${offset} (checksum mismatch)`);
    }

    const type = String.fromCharCode(header[156]!);
    // Extended headers describe the entry after them, never themselves.
    const pax: Record<string, string> = 'xgLK'.includes(type) ? {} : { ...globalPax, ...localPax };
    const size = pax.size !== undefined ? Number(pax.size) : tarNumber(header.subarray(124, 136));
    const start = offset + 512;
    if (!Number.isSafeInteger(size) || size < 0 || start + size > tar.length) {
      throw new Error(`truncated tar entry at offset ${offset}`);
    }
    const body = tar.subarray(start, start + size);
    offset = start + Math.ceil(size / 512) * 512;

    if (type === 'x') {
      localPax = paxRecords(body);
      continue;
    }
    if (type === 'g') {
      globalPax = { ...globalPax, ...paxRecords(body) };
      continue;
    }
    if (type === 'L') {
      longName = cString(body);
      continue;
    }
    if (type === 'K') continue; // GNU long link name: links are skipped anyway.

    // Only POSIX ustar ("ustar\0") has a name prefix; GNU ("ustar  \0") keeps atime/ctime there.
    const posix = latin1.decode(header.subarray(257, 263)) === 'ustar\0';
    const prefix = posix ? cString(header.subarray(345, 500)) : '';
    const headerName = cString(header.subarray(0, 100));
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${headerName}` : headerName);
    localPax = {};
    longName = undefined;

    // '0' and NUL are regular files, '7' contiguous files; directories, links etc. carry no content.
    if (type === '0' || type === '\0' || type === '7') {
      files.set(name.replace(/^(\.?\/)+/, ''), body);
    }
  }
  return files;
}

interface WasmSource {
  wasm: Uint8Array;
  data?: object;
}

function readBundle(file: string, bytes: Uint8Array): WasmSource {
  let files: Map<string, Uint8Array>;
  try {
    files = readTar(gunzipSync(bytes));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    throw new Error(`cannot read OPA bundle ${file}: ${messageOf(err)}`, { cause: err });
  }
  const wasm = files.get(WASM_FILE);
  if (wasm === undefined) {
    const names = [...files.keys()].join(', ') || '(empty archive)';
    throw new Error(
      `OPA bundle ${file} contains no /${WASM_FILE} (found: ${names}); build it with opa build -t wasm`,
    );
  }
  // `opa build` merges all data files into the single top-level /data.json, so nested ones are not read.
  const dataJson = files.get('data.json');
  if (dataJson === undefined) return { wasm };
  let data: unknown;
  try {
    data = JSON.parse(utf8.decode(dataJson));
  } catch (err) {
    throw new Error(`OPA bundle ${file}: /data.json is not valid JSON: ${messageOf(err)}`, { cause: err });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new Error(`OPA bundle ${file}: /data.json must contain a JSON object`);
  }
  return { wasm, data };
}

/**
 * Loads `policy.wasm` or an OPA `bundle.tar.gz` (by file name: `.tar.gz`/`.tgz` are bundles,
 * anything else is raw wasm). The bundle's `/data.json`, if any, becomes the base document `data`.
 * `bytes` lets a caller load exactly the snapshot it read before (the file may have changed since).
 */
export async function loadOpaWasmPolicy(
  file: string,
  bytes: Uint8Array = readFileSync(file),
): Promise<OpaWasmPolicyEngine> {
  const isBundle = /\.(tar\.gz|tgz)$/.test(file);
  const { wasm, data }: WasmSource = isBundle ? readBundle(file, bytes) : { wasm: bytes };
  let policy: LoadedPolicy;
  try {
    // Copy into a standalone ArrayBuffer: tar entries are views into the whole archive.
    policy = await loadPolicy(new Uint8Array(wasm).buffer);
    if (data !== undefined) policy.setData(data);
  } catch (err) {
    throw new Error(`cannot load opa-wasm policy ${file}: ${messageOf(err)}`, { cause: err });
  }
  return new OpaWasmPolicyEngine(policy, basename(file));
}
