// @ts-check
/**
 * Model weights cached in IndexedDB across page loads, each tensor checked on every load.
 *
 *   import { loadWeights } from "./model_weights.js";
 *   const { buffers, stats } = await loadWeights("minilm-l6", manifest);
 *
 * `manifest` lists the tensors ({name, url, sha256, bytes}: see accel_toolkit/models/_blobs.py).
 * A model is one IndexedDB record (database `accel-toolkit-weights`, store `models`, key the
 * model name): `{format, blobs: [{name, sha256, check, bytes, offset}], data}`, where `data` is one
 * Blob holding every tensor's bytes back to back. Chromium keeps a Blob value as one file and
 * hands it back as a handle, so a cached load is one record read and one file read
 * (`data.slice(...).arrayBuffer()`), and the buffers handed out are views into that one
 * ArrayBuffer, ready for `GPUQueue.writeBuffer` without a copy per tensor.
 *
 * Every tensor handed out has been checked against its content. Fetched bytes must hash to
 * the manifest's SHA-256 (the check at the trust boundary: the server may hold other weights
 * than the manifest says). A stored tensor carries that SHA-256 and `check`, a 128-bit hash
 * of its bytes computed when they were stored (`contentCheck`: WebAssembly SIMD, about 3x
 * cheaper than SHA-256 in the page); a cached tensor is used only if its SHA-256 is the
 * manifest's and its bytes, read now, give the stored `check`. A missing, short or corrupted
 * one is fetched from its url again (and checked by SHA-256) and the record is rewritten.
 *
 * Where missing bytes come from is injected (`setByteSource`): by default `fetchBytes`, a GET
 * of the tensor's `url` from the page server (headless venue); the live tab installs one that
 * asks the Python kernel over the widget's comm (widgets/runner.js). Either way the bytes are
 * checked by SHA-256 and stored alike: this module is the only load path.
 *
 * IndexedDB is per origin and profile: the page served from 127.0.0.1 on one port in one
 * user-data-dir (or one browser context) sees its records across reloads and restarts.
 */

const DB_NAME = "accel-toolkit-weights";
const DB_VERSION = 2;  // 1 kept one record per tensor (store "blobs"); dropped on upgrade
const STORE = "models";
const FORMAT = 2;  // 2: each entry carries `check`

/**
 * `contentCheck` in WebAssembly (SIMD), base64 of this module:
 *
 *   (module (import "e" "m" (memory 1))
 *     (func (export "f") (param $p i32) (param $n i32) (param $st i32) (local $s v128)
 *       (local.set $s (v128.load (local.get $st)))
 *       (block (loop
 *         (br_if 1 (i32.ge_u (local.get $p) (local.get $n)))
 *         (local.set $s (i32x4.add
 *           (i32x4.mul (v128.xor (local.get $s) (i32x4.shr_u (local.get $s) (i32.const 15)))
 *                      (v128.const i32x4 0x2c1b3c6d 0x297a2d39 0x85ebca6b 0xc2b2ae35))
 *           (v128.load align=1 (local.get $p))))
 *         (local.set $p (i32.add (local.get $p) (i32.const 16)))
 *         (br 0)))
 *       (v128.store (local.get $st) (local.get $s))))
 */
const CHECK_WASM = "AGFzbQEAAAABBwFgA39/fwACCAEBZQFtAgABAwIBAAcFAQFmAAAKVwFVAQF7IAL9AAQAIQMCQANAIAAgAU8NASADIANBD/2tAf1R/QxtPBssOS16KWvK64U1rrLC/bUBIAD9AAAA/a4BIQMgAEEQaiEADAALCyACIAP9CwQACw==";
const CHECK_CHUNK = 2 ** 20;  // bytes hashed per call (the module's memory holds one chunk)
const CHECK_SEED = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
const CHECK_K = [0x2c1b3c6d, 0x297a2d39, 0x85ebca6b, 0xc2b2ae35];

/**
 * @typedef {Object} BlobEntry
 * @property {string} name
 * @property {string} url
 * @property {string} sha256       lowercase hex
 * @property {number} bytes
 */

/**
 * Where a tensor's bytes come from on a cache miss (the whole tensor, unchecked).
 * @typedef {(blob: BlobEntry, model: string) => Promise<ArrayBuffer>} ByteSource
 */

/**
 * @typedef {Object} StoredEntry
 * @property {string} name
 * @property {string} sha256       of the bytes as fetched (the manifest's)
 * @property {string} check        `contentCheck` of the bytes as stored
 * @property {number} bytes
 * @property {number} offset       where the tensor starts in the record's `data`
 */

/**
 * @typedef {Object} LoadStats
 * @property {number} fetched      tensors fetched from the byte source (url or comm)
 * @property {number} cached       tensors used from IndexedDB
 * @property {string[]} corrupted  names whose cached bytes failed their checksum (re-fetched)
 * @property {number} bytes        bytes handed out
 * @property {number} open_s       opening the database
 * @property {number} get_s        reading the model's record (the Blob handle and index)
 * @property {number} read_s       reading the cached bytes (one Blob read)
 * @property {number} check_s      `contentCheck` of the cached bytes (and of fetched ones)
 * @property {number} hash_s       the part of the fetched bytes' SHA-256 not overlapped with
 *                                 fetching
 * @property {number} fetch_s
 * @property {number} write_s      storing the record again after a fetch
 * @property {number} total_s
 */

/** @type {ByteSource} */
export async function fetchBytes(blob) {
  const r = await fetch(blob.url);
  if (!r.ok) throw new Error(`fetching weight '${blob.name}' from ${blob.url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

/** @type {ByteSource} */
let byteSource = fetchBytes;

/**
 * Set where `loadWeights` gets the bytes of tensors it has not cached (null: `fetchBytes`).
 * @param {ByteSource | null} source
 * @returns {ByteSource}  the previous source
 */
export function setByteSource(source) {
  const previous = byteSource;
  byteSource = source ?? fetchBytes;
  return previous;
}

/** @returns {Promise<any>} */
function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (db.objectStoreNames.contains("blobs")) db.deleteObjectStore("blobs");
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** @param {any} req @returns {Promise<any>} */
function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** @param {any} tx @returns {Promise<void>} */
function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** @param {BufferSource} bytes @returns {Promise<string>} */
async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** @type {{f: (p: number, n: number, st: number) => void, mem: Uint8Array} | null | undefined} */
let checker;

/** The WebAssembly `contentCheck`, or null where the browser lacks WebAssembly SIMD. */
function wasmChecker() {
  if (checker !== undefined) return checker;
  checker = null;
  try {
    const bytes = Uint8Array.from(atob(CHECK_WASM), (c) => c.charCodeAt(0));
    const memory = new WebAssembly.Memory({ initial: 1 + CHECK_CHUNK / 65536 });
    // a module this small may be compiled synchronously on the main thread
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
    checker = { f: /** @type {any} */ (inst.exports.f), mem: new Uint8Array(memory.buffer) };
  } catch { /* no WebAssembly SIMD: the JavaScript version */ }
  return checker;
}

/** How `contentCheck` runs here: "wasm-simd" or "js". */
export function contentCheckKind() {
  return wasmChecker() ? "wasm-simd" : "js";
}

/**
 * A 128-bit hash of `bytes` (a multiple of 4 long), as 32 hex digits. Word i (little-endian
 * int32; the tail padded with zero words to a multiple of four) goes to lane i % 4, and each
 * lane steps `s = imul(s ^ (s >>> 15), K[lane]) + word`. Every step is a bijection of the
 * lane's state and of the word, so one changed word always changes the result and a state
 * never collapses. Lengths are compared apart (zero words at the end of a tensor whose length
 * is not a multiple of 16 bytes are not told apart from the padding). It detects storage
 * corruption, not tampering (whoever can write this
 * origin's IndexedDB can also change this code). WebAssembly SIMD where the browser has it,
 * else the same arithmetic in JavaScript (`js`: always that, for tests).
 * @param {Uint8Array} bytes
 * @param {{js?: boolean}} [opts]
 * @returns {string}
 */
export function contentCheck(bytes, opts = {}) {
  const w = opts.js ? null : wasmChecker();
  const lanes = new Int32Array(CHECK_SEED);
  if (w) {
    const st = new Int32Array(w.mem.buffer, 0, 4);
    st.set(lanes);
    for (let o = 0; o < bytes.byteLength; o += CHECK_CHUNK) {
      const n = Math.min(CHECK_CHUNK, bytes.byteLength - o);
      const padded = Math.ceil(n / 16) * 16;
      w.mem.set(bytes.subarray(o, o + n), 16);
      w.mem.fill(0, 16 + n, 16 + padded);
      w.f(16, 16 + padded, 0);
    }
    lanes.set(st);
  } else {
    const n = bytes.byteLength >> 2;
    const whole = n - (n % 4);
    const aligned = bytes.byteOffset % 4 ? bytes.slice() : bytes;
    const u = new Int32Array(aligned.buffer, aligned.byteOffset, whole);
    const tail = new Int32Array(4);
    tail.set(new Int32Array(bytes.slice(whole * 4, n * 4).buffer));
    let [a, b, c, d] = lanes;
    const [ka, kb, kc, kd] = CHECK_K;
    /** @param {Int32Array} v @param {number} m */
    const run = (v, m) => {
      for (let i = 0; i < m; i += 4) {
        a = (Math.imul(a ^ (a >>> 15), ka) + v[i]) | 0;
        b = (Math.imul(b ^ (b >>> 15), kb) + v[i + 1]) | 0;
        c = (Math.imul(c ^ (c >>> 15), kc) + v[i + 2]) | 0;
        d = (Math.imul(d ^ (d >>> 15), kd) + v[i + 3]) | 0;
      }
    };
    run(u, whole);
    if (n > whole) run(tail, 4);
    lanes.set([a, b, c, d]);
  }
  return Array.from(lanes, (x) => (x >>> 0).toString(16).padStart(8, "0")).join("");
}

/**
 * The weights of `model`, from IndexedDB where the checksum matches, else fetched and cached.
 * @param {string} model
 * @param {BlobEntry[]} manifest
 * @param {ByteSource} [source]  where missing bytes come from (default: `setByteSource`'s)
 * @returns {Promise<{buffers: Uint8Array<ArrayBuffer>[], stats: LoadStats}>}  in manifest order
 */
export async function loadWeights(model, manifest, source = byteSource) {
  const t0 = performance.now();
  /** @type {LoadStats} */
  const stats = { fetched: 0, cached: 0, corrupted: [], bytes: 0, open_s: 0, get_s: 0,
    read_s: 0, check_s: 0, hash_s: 0, fetch_s: 0, write_s: 0, total_s: 0 };
  let t = performance.now();
  const db = await openDb();
  stats.open_s = (performance.now() - t) / 1e3;
  try {
    t = performance.now();
    const rec = await done(db.transaction(STORE, "readonly").objectStore(STORE).get(model));
    stats.get_s = (performance.now() - t) / 1e3;
    /** @type {StoredEntry[]} */
    const stored = rec && rec.format === FORMAT && rec.data instanceof Blob ? rec.blobs : [];
    const byName = new Map(stored.map((e) => [e.name, e]));
    // a stored tensor counts only if it is the manifest's (same checksum and length)
    const hits = manifest.map((b) => {
      const e = byName.get(b.name);
      return e && e.sha256 === b.sha256 && e.bytes === b.bytes ? e : null;
    });

    /** @type {Uint8Array<ArrayBuffer>[]} */
    const buffers = new Array(manifest.length);
    /** @type {number[]} */
    const missing = [];
    const found = /** @type {StoredEntry[]} */ (hits.filter(Boolean));
    if (found.length) {
      // one read of the span the manifest needs; the tensors are views into it
      const lo = Math.min(...found.map((e) => e.offset));
      const hi = Math.max(...found.map((e) => e.offset + e.bytes));
      t = performance.now();
      const span = await rec.data.slice(lo, Math.min(hi, rec.data.size)).arrayBuffer();
      stats.read_s = (performance.now() - t) / 1e3;
      t = performance.now();
      const sums = hits.map((e) => (e && e.offset + e.bytes <= lo + span.byteLength
        ? contentCheck(new Uint8Array(span, e.offset - lo, e.bytes)) : null));
      stats.check_s = (performance.now() - t) / 1e3;
      manifest.forEach((b, i) => {
        const e = hits[i];
        if (e && sums[i] === e.check) {
          buffers[i] = new Uint8Array(span, e.offset - lo, e.bytes);
          stats.cached++;
        } else {
          if (e) stats.corrupted.push(b.name);
          missing.push(i);
        }
      });
    } else {
      manifest.forEach((_, i) => missing.push(i));
    }

    if (missing.length) {
      t = performance.now();
      let lastFetch = t;
      /** @type {ArrayBuffer[]} */
      const got = new Array(missing.length);
      const sums = await Promise.all(missing.map(async (i, k) => {
        got[k] = await source(manifest[i], model);
        lastFetch = performance.now();
        return sha256(got[k]);
      }));
      stats.fetch_s = (lastFetch - t) / 1e3;
      stats.hash_s += (performance.now() - lastFetch) / 1e3;
      missing.forEach((i, k) => {
        if (sums[k] !== manifest[i].sha256) {
          throw new Error(`weight '${manifest[i].name}' (${manifest[i].url}) fails its checksum ` +
            `(sha256 ${sums[k]}, expected ${manifest[i].sha256}); the source has other weights than the manifest`);
        }
        buffers[i] = new Uint8Array(got[k]);
      });
      stats.fetched = missing.length;

      t = performance.now();
      /** @type {Map<number, string>} */
      const checks = new Map(missing.map((i) => [i, contentCheck(buffers[i])]));
      stats.check_s += (performance.now() - t) / 1e3;

      // the record again: every checked tensor, plus stored ones this manifest did not ask for
      t = performance.now();
      /** @type {StoredEntry[]} */
      const entries = [];
      /** @type {BlobPart[]} */
      const parts = [];
      let offset = 0;
      /**
       * @param {string} name @param {string} sum @param {string} check @param {number} bytes
       * @param {BlobPart} part
       */
      const add = (name, sum, check, bytes, part) => {
        entries.push({ name, sha256: sum, check, bytes, offset });
        parts.push(part);
        offset += bytes;
      };
      manifest.forEach((b, i) => add(b.name, b.sha256,
        checks.get(i) ?? /** @type {StoredEntry} */ (hits[i]).check, b.bytes, buffers[i]));
      const asked = new Set(manifest.map((b) => b.name));
      for (const e of stored) {
        if (!asked.has(e.name) && e.offset + e.bytes <= rec.data.size) {
          add(e.name, e.sha256, e.check, e.bytes, rec.data.slice(e.offset, e.offset + e.bytes));
        }
      }
      const wtx = db.transaction(STORE, "readwrite");
      wtx.objectStore(STORE).put({ format: FORMAT, blobs: entries, data: new Blob(parts) }, model);
      await committed(wtx);
      stats.write_s = (performance.now() - t) / 1e3;
    }
    stats.bytes = buffers.reduce((s, b) => s + b.byteLength, 0);
    stats.total_s = (performance.now() - t0) / 1e3;
    return { buffers, stats };
  } finally {
    db.close();
  }
}

/**
 * Delete the cached weights of `model` (all models when omitted).
 * @param {string} [model]
 * @returns {Promise<number>}  records deleted
 */
export async function clearWeights(model) {
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, "readwrite");
    const os = tx.objectStore(STORE);
    /** @type {string[]} */
    const keys = await done(os.getAllKeys());
    const mine = keys.filter((k) => model === undefined || String(k) === model);
    for (const k of mine) os.delete(k);
    await committed(tx);
    return mine.length;
  } finally {
    db.close();
  }
}
