// Test support only: excluded from the build (see sidecar/tsconfig.json).
/**
 * A hand-written module speaking OPA's policy ABI 1.2, so the real opa-wasm library drives it
 * exactly as it drives `opa build -t wasm` output: the library reads the version globals, dumps
 * `builtins()`/`entrypoints()`, loads data through opa_malloc + opa_json_parse, then calls the
 * `opa_eval` fast path with the raw input JSON bytes and parses the NUL-terminated result set it
 * returns. Values are simply NUL-terminated JSON text, so opa_json_dump is the identity.
 *
 * Entrypoints: 0 cpod/authz/decision compares the input bytes with {"role":"admin"} (no input →
 * empty result set); 1 cpod/config echoes `data`; 2 cpod/authz/abort calls opa_abort;
 * 3 cpod/authz/trap hits `unreachable`; 4 cpod/authz/spin loops forever (for the pool's watchdog).
 */
const POLICY_WAT = String.raw`
(module
  (import "env" "memory" (memory 2))
  (import "env" "opa_abort" (func $opa_abort (param i32)))

  (global (export "opa_wasm_abi_version") i32 (i32.const 1))
  (global (export "opa_wasm_abi_minor_version") i32 (i32.const 2))
  (global $heap (mut i32) (i32.const 65536))

  (data (i32.const 256) "{}\00")
  (data (i32.const 512) "{\"cpod/authz/decision\":0,\"cpod/config\":1,\"cpod/authz/abort\":2,\"cpod/authz/trap\":3,\"cpod/authz/spin\":4}\00")
  (data (i32.const 1024) "{\"role\":\"admin\"}")
  (data (i32.const 1100) "[{\"result\":{\"allow\":true,\"reason\":\"admin\"}}]\00")
  (data (i32.const 1200) "[{\"result\":{\"allow\":false,\"reason\":\"denied\"}}]\00")
  (data (i32.const 1300) "[]\00")
  (data (i32.const 1400) "[{\"result\":")
  (data (i32.const 1420) "}]\00")
  (data (i32.const 1500) "cpod/authz/abort: aborted on purpose\00")
  (data (i32.const 1600) "opa_malloc: out of memory\00")
  (data (i32.const 1700) "opa_eval: unknown entrypoint\00")

  (func $memcpy (param $dst i32) (param $src i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  (func $memeq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $differ
      (loop $next
        (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func $strlen (param $s i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; Bump allocator that grows the imported memory on demand, like OPA's own.
  (func $opa_malloc (export "opa_malloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $ptr) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 16)))
              (i32.const -1))
          (then (call $opa_abort (i32.const 1600)) (unreachable)))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "opa_free") (param i32))
  (func (export "opa_heap_ptr_get") (result i32) (global.get $heap))
  (func (export "opa_heap_ptr_set") (param i32) (global.set $heap (local.get 0)))

  (func $opa_json_parse (export "opa_json_parse") (param $addr i32) (param $len i32) (result i32)
    (local $v i32)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (local.set $v (call $opa_malloc (i32.add (local.get $len) (i32.const 1))))
    (call $memcpy (local.get $v) (local.get $addr) (local.get $len))
    (i32.store8 (i32.add (local.get $v) (local.get $len)) (i32.const 0))
    (local.get $v))
  (func (export "opa_value_parse") (param i32 i32) (result i32)
    (call $opa_json_parse (local.get 0) (local.get 1)))
  (func (export "opa_json_dump") (param i32) (result i32) (local.get 0))
  (func (export "opa_value_dump") (param i32) (result i32) (local.get 0))

  (func (export "builtins") (result i32) (i32.const 256))
  (func (export "entrypoints") (result i32) (i32.const 512))

  (func (export "opa_eval")
    (param $reserved i32) (param $entrypoint i32) (param $data i32)
    (param $input i32) (param $inputLen i32) (param $heapPtr i32) (param $format i32)
    (result i32)
    (local $len i32) (local $out i32)
    (global.set $heap (local.get $heapPtr))
    (if (i32.eqz (local.get $entrypoint))
      (then
        (if (i32.eqz (local.get $inputLen)) (then (return (i32.const 1300))))
        (if (i32.and
              (i32.eq (local.get $inputLen) (i32.const 16))
              (call $memeq (local.get $input) (i32.const 1024) (i32.const 16)))
          (then (return (i32.const 1100))))
        (return (i32.const 1200))))
    (if (i32.eq (local.get $entrypoint) (i32.const 1))
      (then
        (if (i32.eqz (local.get $data)) (then (return (i32.const 1300))))
        (local.set $len (call $strlen (local.get $data)))
        (local.set $out (call $opa_malloc (i32.add (local.get $len) (i32.const 14))))
        (call $memcpy (local.get $out) (i32.const 1400) (i32.const 11))
        (call $memcpy (i32.add (local.get $out) (i32.const 11)) (local.get $data) (local.get $len))
        (call $memcpy (i32.add (i32.add (local.get $out) (i32.const 11)) (local.get $len)) (i32.const 1420) (i32.const 3))
        (return (local.get $out))))
    (if (i32.eq (local.get $entrypoint) (i32.const 2))
      (then (call $opa_abort (i32.const 1500)) (unreachable)))
    (if (i32.eq (local.get $entrypoint) (i32.const 3))
      (then (unreachable)))
    (if (i32.eq (local.get $entrypoint) (i32.const 4))
      (then (loop $forever (br $forever))))
    (call $opa_abort (i32.const 1700))
    (unreachable))
)
`;

/** The module above as wasm bytes, assembled with wabt. */
export async function assembleTestPolicyWasm(): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('policy.wat', POLICY_WAT);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}
