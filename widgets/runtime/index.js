// @ts-check
/**
 * The accel_toolkit browser runtime: one entry point for every venue (the headless page
 * driven by Playwright, the live JupyterLab tab through anywidget).
 *
 *   const rt = await createRuntime({ webnnDeviceTypes: ["cpu", "gpu", "npu"] });
 *   const info = await rt.info();
 *   const { reply, buffers } = await rt.handle(request, inputBuffers);
 *   rt.dispose();
 *
 * `handle` never throws: every failure becomes `{id, ok: false, error: {type, message, ...}}`.
 * Requests and replies are described in PROTOCOL.md. Nothing here knows about the venue.
 */

import { RuntimeError, WebNNExecutor, errorText } from "./webnn.js";

/**
 * @typedef {Object} RuntimeOptions
 * @property {string[]} [webnnDeviceTypes]  WebNN device types to report in info()
 * @property {Object} [webgpu]              options passed to WebGPUExecutor.create
 */

/**
 * @typedef {Object} Runtime
 * @property {() => Promise<Object>} info
 * @property {(request: Object, buffers?: ArrayBuffer[]) => Promise<{reply: Object, buffers: ArrayBuffer[]}>} handle
 * @property {() => void} dispose
 */

const ERROR_TYPES = new Set([
  "ShaderCompileError", "UnsupportedKernelError", "ResourceLimitError", "DeviceLost",
  "KernelExecutionError", "Timeout",
]);

const now = () => performance.now() / 1000;

/**
 * The browser: user agent and, where the browser has it, the brand list with full versions.
 * @returns {Promise<Object>}
 */
async function browserInfo() {
  const nav = /** @type {any} */ (globalThis.navigator) || {};
  const out = { userAgent: nav.userAgent || "", platform: nav.platform || "",
    hardwareConcurrency: nav.hardwareConcurrency || null, secureContext: globalThis.isSecureContext,
    // performance.now() ticks in 5 us steps when cross-origin isolated, else 100 us
    crossOriginIsolated: Boolean(globalThis.crossOriginIsolated) };
  const uad = nav.userAgentData;
  if (uad) {
    let brands = uad.brands;
    try {
      const hi = await uad.getHighEntropyValues(["fullVersionList", "platformVersion", "architecture"]);
      brands = hi.fullVersionList || brands;
      Object.assign(out, { platformVersion: hi.platformVersion, architecture: hi.architecture });
    } catch { /* low-entropy brands only */ }
    Object.assign(out, { brands: (brands || []).map((/** @type {any} */ b) => ({ brand: b.brand, version: b.version })) });
    const real = (brands || []).find((/** @type {any} */ b) => /chrom|edge|opera/i.test(b.brand) && !/not/i.test(b.brand));
    if (real) Object.assign(out, { name: real.brand, version: real.version });
  }
  return out;
}

/**
 * The WebGPU adapter (vendor, architecture, device, description, fallback flag, limits,
 * features), or why there is none.
 * @returns {Promise<Object>}
 */
async function webgpuInfo() {
  const gpu = /** @type {any} */ (globalThis.navigator)?.gpu;
  if (!gpu) return { available: false, reason: "navigator.gpu is missing (WebGPU disabled or not a secure context)" };
  let adapter;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { available: false, reason: `requestAdapter failed: ${errorText(e)}` };
  }
  if (!adapter) return { available: false, reason: "requestAdapter() returned null (no usable adapter)" };
  const i = adapter.info || {};
  /** @type {Record<string, number>} */
  const limits = {};
  for (const k in adapter.limits) {
    const v = adapter.limits[k];
    if (typeof v === "number") limits[k] = v;
  }
  return {
    available: true,
    vendor: i.vendor || "", architecture: i.architecture || "", device: i.device || "",
    description: i.description || "",
    isFallbackAdapter: Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false),
    subgroupMinSize: i.subgroupMinSize, subgroupMaxSize: i.subgroupMaxSize,
    features: [...adapter.features].sort(),
    wgslLanguageFeatures: [...(gpu.wgslLanguageFeatures || [])].map(String).sort(),
    limits,
  };
}

/**
 * WebNN availability per device type, with each context's opSupportLimits.
 * @param {string[]} deviceTypes
 * @returns {Promise<Object>}
 */
async function webnnInfo(deviceTypes) {
  const ml = /** @type {any} */ (globalThis.navigator)?.ml;
  if (!ml) return { available: false, reason: "navigator.ml is missing (no WebNN in this browser)", devices: {} };
  /** @type {Record<string, Object>} */
  const devices = {};
  for (const dt of deviceTypes) {
    try {
      const ex = await WebNNExecutor.create({ deviceType: dt });
      devices[dt] = { available: true, ...(await ex.info()) };
      ex.dispose();
    } catch (e) {
      devices[dt] = { available: false, reason: e instanceof Error ? e.message : String(e) };
    }
  }
  const any = Object.values(devices).some((d) => /** @type {any} */ (d).available);
  return { available: any, reason: any ? "" : "no WebNN device type could create a context", devices };
}

/**
 * An error reply from anything thrown.
 * @param {any} request @param {any} e
 */
function errorReply(request, e) {
  const type = e && ERROR_TYPES.has(e.type) ? e.type : "KernelExecutionError";
  const message = e instanceof RuntimeError || ERROR_TYPES.has(e?.type) ? e.message : errorText(e);
  return { id: request?.id ?? null, ok: false, error: { type, message, ...(e?.extra || {}) } };
}

/**
 * Create the runtime.
 * @param {RuntimeOptions} [options]
 * @returns {Promise<Runtime>}
 */
export async function createRuntime(options = {}) {
  const deviceTypes = options.webnnDeviceTypes || ["cpu", "gpu", "npu"];
  /** @type {Promise<any> | null} */
  let gpuExec = null;
  /** @type {Map<string, Promise<WebNNExecutor>>} */
  const nnExec = new Map();

  async function webgpuExecutor() {
    if (!gpuExec) {
      gpuExec = (async () => {
        let mod;
        try {
          mod = await import("./webgpu.js");
        } catch (e) {
          throw new RuntimeError("UnsupportedKernelError", `the WebGPU executor (webgpu.js) could not be loaded: ${errorText(e)}`);
        }
        return mod.WebGPUExecutor.create(options.webgpu || {});
      })();
      gpuExec.catch(() => { gpuExec = null; });
    }
    return gpuExec;
  }

  /** @param {string} deviceType */
  async function webnnExecutor(deviceType) {
    let p = nnExec.get(deviceType);
    if (p) {
      const ex = await p.catch(() => null);
      if (ex && !ex.lost) return ex;
      nnExec.delete(deviceType);
      if (ex) ex.dispose();
    }
    p = WebNNExecutor.create({ deviceType });
    nnExec.set(deviceType, p);
    p.catch(() => nnExec.delete(deviceType));
    return p;
  }

  /** @param {any} request @param {ArrayBuffer[]} buffers */
  async function run(request, buffers) {
    const limit = Number(request.time_limit_s) > 0 ? Number(request.time_limit_s) : Infinity;
    const deadline = now() + limit * 0.8;
    const opts = { mode: request.mode || "once", timing: request.timing, deadline };
    if (request.backend === "webgpu") {
      const ex = await webgpuExecutor();
      // weights the request names stay on the GPU between requests (webgpu.js); those not
      // there yet come from the page's IndexedDB weight cache (model_weights.js)
      const res = await ex.execute(request.plan, buffers, { ...opts, weights: request.weights });
      if (res?.reply && res.reply.ok === false && res.reply.error?.type === "DeviceLost") gpuExec = null;
      return res;
    }
    if (request.backend === "webnn") {
      const ex = await webnnExecutor(request.device_type || "cpu");
      return ex.execute(request.graph, buffers, opts);
    }
    throw new RuntimeError("KernelExecutionError", `unknown backend ${JSON.stringify(request.backend)} (webgpu or webnn)`);
  }

  /** @param {any} request @param {ArrayBuffer[]} [buffers] */
  async function handle(request, buffers = []) {
    const t0 = now();
    try {
      if (!request || typeof request !== "object") throw new RuntimeError("KernelExecutionError", "request must be an object");
      if (request.op === "info") return { reply: { id: request.id, ok: true, info: await info() }, buffers: [] };
      if (request.op !== "run") throw new RuntimeError("KernelExecutionError", `unknown op ${JSON.stringify(request.op)} (info or run)`);
      const limit = Number(request.time_limit_s) > 0 ? Number(request.time_limit_s) : 0;
      /** @type {Promise<any>} */
      let work = run(request, buffers);
      if (limit) {
        /** @type {any} */
        let timer;
        const expired = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new RuntimeError("Timeout",
            `the request took longer than its time limit of ${limit} s`)), limit * 1000);
        });
        work = Promise.race([work, expired]).finally(() => clearTimeout(timer));
      }
      const res = await work;
      const reply = { ...res.reply, id: request.id, handle_s: now() - t0 };
      if (reply.ok === false) return { reply, buffers: [] };
      return { reply, buffers: res.buffers || [] };
    } catch (/** @type {any} */ e) {
      if (e?.type === "DeviceLost") gpuExec = null;
      return { reply: errorReply(request, e), buffers: [] };
    }
  }

  async function info() {
    const [browser, webgpu, webnn] = await Promise.all([browserInfo(), webgpuInfo(), webnnInfo(deviceTypes)]);
    return { browser, webgpu, webnn };
  }

  function dispose() {
    for (const p of nnExec.values()) p.then((ex) => ex.dispose(), () => {});
    nnExec.clear();
    if (gpuExec) gpuExec.then((ex) => ex?.dispose?.(), () => {});
    gpuExec = null;
  }

  return { info, handle, dispose };
}
