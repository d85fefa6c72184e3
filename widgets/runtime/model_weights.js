// @ts-check
/**
 * Model weights cached in IndexedDB across page loads, each tensor checked by its SHA-256.
 *
 *   import { loadWeights } from "./model_weights.js";
 *   const { buffers, stats } = await loadWeights("minilm-l6", manifest);
 *
 * `manifest` lists the tensors ({name, url, sha256, bytes}: see accel_toolkit/models/_blobs.py).
 * A model is one IndexedDB record (database `accel-toolkit-weights`, store `models`, key the
 * model name): `{format, blobs: [{name, sha256, bytes, offset}], data}`, where `data` is one
 * Blob holding every tensor's bytes back to back. Chromium keeps a Blob value as one file and
 * hands it back as a handle, so a cached load is one record read and one file read
 * (`data.slice(...).arrayBuffer()`), and the buffers handed out are views into that one
 * ArrayBuffer, ready for `GPUQueue.writeBuffer` without a copy per tensor.
 *
 * Every tensor handed out has been checked: a cached one hashes to its manifest's SHA-256
 * here and now; a missing, short or corrupted one is fetched from its url again (the fetched
 * bytes are checked too) and the record is rewritten. IndexedDB is per origin and profile:
 * the page served from 127.0.0.1 on one port in one user-data-dir (or one browser context)
 * sees its records across reloads and restarts.
 */

const DB_NAME = "accel-toolkit-weights";
const DB_VERSION = 2;  // 1 kept one record per tensor (store "blobs"); dropped on upgrade
const STORE = "models";
const FORMAT = 1;

/**
 * @typedef {Object} BlobEntry
 * @property {string} name
 * @property {string} url
 * @property {string} sha256       lowercase hex
 * @property {number} bytes
 */

/**
 * @typedef {Object} StoredEntry
 * @property {string} name
 * @property {string} sha256
 * @property {number} bytes
 * @property {number} offset       where the tensor starts in the record's `data`
 */

/**
 * @typedef {Object} LoadStats
 * @property {number} fetched      tensors fetched from their url
 * @property {number} cached       tensors used from IndexedDB
 * @property {string[]} corrupted  names whose cached bytes failed their checksum (re-fetched)
 * @property {number} bytes        bytes handed out
 * @property {number} open_s       opening the database
 * @property {number} get_s        reading the model's record (the Blob handle and index)
 * @property {number} read_s       reading the cached bytes (one Blob read)
 * @property {number} hash_s       SHA-256 of the cached bytes, plus the part of the fetched
 *                                 bytes' SHA-256 not overlapped with fetching
 * @property {number} fetch_s
 * @property {number} write_s      storing the record again after a fetch
 * @property {number} total_s
 */

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

/**
 * The weights of `model`, from IndexedDB where the checksum matches, else fetched and cached.
 * @param {string} model
 * @param {BlobEntry[]} manifest
 * @returns {Promise<{buffers: Uint8Array<ArrayBuffer>[], stats: LoadStats}>}  in manifest order
 */
export async function loadWeights(model, manifest) {
  const t0 = performance.now();
  /** @type {LoadStats} */
  const stats = { fetched: 0, cached: 0, corrupted: [], bytes: 0, open_s: 0, get_s: 0,
    read_s: 0, hash_s: 0, fetch_s: 0, write_s: 0, total_s: 0 };
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
      const sums = await Promise.all(hits.map((e) => (e && e.offset + e.bytes <= lo + span.byteLength
        ? sha256(new Uint8Array(span, e.offset - lo, e.bytes)) : null)));
      stats.hash_s = (performance.now() - t) / 1e3;
      manifest.forEach((b, i) => {
        const e = hits[i];
        if (e && sums[i] === b.sha256) {
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
        const r = await fetch(manifest[i].url);
        if (!r.ok) throw new Error(`fetching weight '${manifest[i].name}' from ${manifest[i].url}: HTTP ${r.status}`);
        got[k] = await r.arrayBuffer();
        lastFetch = performance.now();
        return sha256(got[k]);
      }));
      stats.fetch_s = (lastFetch - t) / 1e3;
      stats.hash_s += (performance.now() - lastFetch) / 1e3;
      missing.forEach((i, k) => {
        if (sums[k] !== manifest[i].sha256) {
          throw new Error(`weight '${manifest[i].name}' from ${manifest[i].url} fails its checksum ` +
            `(sha256 ${sums[k]}, expected ${manifest[i].sha256}); the server has other weights than the manifest`);
        }
        buffers[i] = new Uint8Array(got[k]);
      });
      stats.fetched = missing.length;

      // the record again: every checked tensor, plus stored ones this manifest did not ask for
      t = performance.now();
      /** @type {StoredEntry[]} */
      const entries = [];
      /** @type {BlobPart[]} */
      const parts = [];
      let offset = 0;
      /** @param {string} name @param {string} sum @param {number} bytes @param {BlobPart} part */
      const add = (name, sum, bytes, part) => {
        entries.push({ name, sha256: sum, bytes, offset });
        parts.push(part);
        offset += bytes;
      };
      manifest.forEach((b, i) => add(b.name, b.sha256, b.bytes, buffers[i]));
      const asked = new Set(manifest.map((b) => b.name));
      for (const e of stored) {
        if (!asked.has(e.name) && e.offset + e.bytes <= rec.data.size) {
          add(e.name, e.sha256, e.bytes, rec.data.slice(e.offset, e.offset + e.bytes));
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
