// @ts-check
/**
 * Model weights cached in IndexedDB across page loads, each blob checked by its SHA-256.
 *
 *   import { loadWeights } from "./model_weights.js";
 *   const { buffers, stats } = await loadWeights("minilm-l6", manifest);
 *
 * `manifest` lists the blobs ({name, url, sha256, bytes}: see accel_toolkit/models/_blobs.py).
 * A blob whose cached bytes hash to its manifest's SHA-256 is used from IndexedDB; a missing,
 * short or corrupted entry is fetched from its url again (the fetched bytes are checked too)
 * and stored. IndexedDB is per origin and profile: the page served from 127.0.0.1 on one port
 * in one user-data-dir (or one browser context) sees its entries across reloads.
 */

const DB_NAME = "accel-toolkit-weights";
const STORE = "blobs";

/**
 * @typedef {Object} BlobEntry
 * @property {string} name
 * @property {string} url
 * @property {string} sha256       lowercase hex
 * @property {number} bytes
 */

/**
 * @typedef {Object} LoadStats
 * @property {number} fetched      blobs fetched from their url
 * @property {number} cached       blobs used from IndexedDB
 * @property {string[]} corrupted  names whose cached entry failed its checksum (re-fetched)
 * @property {number} bytes
 * @property {number} read_s       reading IndexedDB
 * @property {number} hash_s       SHA-256 not overlapped with reading or fetching
 * @property {number} fetch_s
 * @property {number} write_s      storing fetched blobs
 * @property {number} total_s
 */

/** @returns {Promise<any>} */
function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
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

/** @param {string} model @param {string} name */
const keyOf = (model, name) => `${model}/${name}`;

/** @param {ArrayBuffer} bytes @returns {Promise<string>} */
async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The weights of `model`, from IndexedDB where the checksum matches, else fetched and cached.
 * @param {string} model
 * @param {BlobEntry[]} manifest
 * @returns {Promise<{buffers: ArrayBuffer[], stats: LoadStats}>}  buffers in manifest order
 */
export async function loadWeights(model, manifest) {
  const t0 = performance.now();
  const db = await openDb();
  /** @type {LoadStats} */
  const stats = { fetched: 0, cached: 0, corrupted: [], bytes: 0, read_s: 0, hash_s: 0,
    fetch_s: 0, write_s: 0, total_s: 0 };
  try {
    // Each entry is hashed as soon as it is read, so reading and hashing overlap.
    let t = performance.now();
    const tx = db.transaction(STORE, "readonly");
    const os = tx.objectStore(STORE);
    let lastRead = t;
    /** @type {any[]} */
    const entries = new Array(manifest.length);
    const hashes = await Promise.all(manifest.map(async (b, i) => {
      const e = await done(os.get(keyOf(model, b.name)));
      lastRead = performance.now();
      entries[i] = e;
      return e && e.bytes instanceof ArrayBuffer ? sha256(e.bytes) : null;
    }));
    stats.read_s = (lastRead - t) / 1e3;
    stats.hash_s += (performance.now() - lastRead) / 1e3;  // hashing left after the last read

    /** @type {ArrayBuffer[]} */
    const buffers = new Array(manifest.length);
    /** @type {number[]} */
    const missing = [];
    manifest.forEach((b, i) => {
      if (hashes[i] === b.sha256 && entries[i].bytes.byteLength === b.bytes) {
        buffers[i] = entries[i].bytes;
        stats.cached++;
      } else {
        if (entries[i]) stats.corrupted.push(b.name);
        missing.push(i);
      }
    });

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
        buffers[i] = got[k];
      });
      t = performance.now();
      const wtx = db.transaction(STORE, "readwrite");
      const ws = wtx.objectStore(STORE);
      missing.forEach((i, k) => ws.put({ sha256: manifest[i].sha256, bytes: got[k] },
        keyOf(model, manifest[i].name)));
      await committed(wtx);
      stats.write_s = (performance.now() - t) / 1e3;
      stats.fetched = missing.length;
    }
    stats.bytes = buffers.reduce((s, b) => s + b.byteLength, 0);
    stats.total_s = (performance.now() - t0) / 1e3;
    return { buffers, stats };
  } finally {
    db.close();
  }
}

/**
 * Delete every cached blob of `model` (all models when omitted).
 * @param {string} [model]
 * @returns {Promise<number>}  entries deleted
 */
export async function clearWeights(model) {
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, "readwrite");
    const os = tx.objectStore(STORE);
    /** @type {string[]} */
    const keys = await done(os.getAllKeys());
    const mine = keys.filter((k) => model === undefined || String(k).startsWith(`${model}/`));
    for (const k of mine) os.delete(k);
    await committed(tx);
    return mine.length;
  } finally {
    db.close();
  }
}
