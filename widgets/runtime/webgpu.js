// @ts-check
/**
 * WebGPU executor of accel_toolkit: runs a ComputePlan (see PROTOCOL.md, built in Python by
 * accel_toolkit/backends/_wgsl.py) and times it with the shared timing loop.
 *
 *   import { WebGPUExecutor } from "./webgpu.js";
 *   const ex = await WebGPUExecutor.create();
 *   const { reply, buffers } = await ex.execute(plan, inputBuffers, { mode: "measure", timing });
 *
 * - The device asks for `timestamp-query` and `shader-f16` when the adapter has them, and for
 *   the adapter's own buffer/workgroup limits instead of WebGPU's defaults.
 * - Shader modules and pipelines are cached by source + entry point + override constants;
 *   `compile_s` (module + pipeline creation) is reported apart from `first_run_s`.
 * - A compile error becomes `{type: "ShaderCompileError", shader, line, column, message}`
 *   (thrown as an Error whose `type` and `extra` the runtime copies into the reply).
 * - Timing: one sample is n calls in one command encoder; with `timestamp-query` the time
 *   between a timestamp before the first pass and one after the last, else wall time until
 *   `queue.onSubmittedWorkDone()` resolves. The reply's `timer` says which. With working
 *   timestamps a plan of several passes is then run once more with a timestamp pair around
 *   every pass: the reply's `pass_s` (seconds per pass, plan order).
 * - A lost device is recreated on the next `execute`; the request that saw the loss fails
 *   with `DeviceLost`.
 * - Model weights a request names (`opts.weights`, the request's `weights`) stay on the device
 *   between requests, keyed by content (model, SHA-256, size): the first request that needs a
 *   tensor loads it (IndexedDB cache or page server, `model_weights.js`) and uploads it; later
 *   requests bind the same buffer (any batch or sequence length). Resident weights are freed
 *   with the device (page closed, device lost, `dispose`), and least recently used models are
 *   freed first when a model's upload would pass `weightBudgetBytes` (default 1 GiB) or the
 *   device runs out of memory. The reply's `weights` says what was resident, loaded and
 *   uploaded; `upload_bytes` counts every byte written to the device in the request and
 *   `readbacks` the buffers mapped for the outputs (once per request, after all calls).
 *
 * Venue-agnostic: it needs only `navigator.gpu`, in the headless page or a JupyterLab tab.
 */

import { timeLoop } from "./timing.js";

/**
 * @typedef {Object} PlanBuffer
 * @property {string} name
 * @property {number} size                    bytes, a multiple of 4
 * @property {"input"|"uniform"|"output"|"scratch"} usage
 * @property {number|null} init               index of the request buffer that fills it
 */

/**
 * @typedef {Object} PlanPass
 * @property {string} shader
 * @property {string} entry
 * @property {Record<string, number>} constants
 * @property {string[]} bindings              binding k is `group(0) binding(k)` in WGSL
 * @property {number[]} workgroups
 * @property {number[]} [workgroup_size]
 */

/**
 * @typedef {Object} ComputePlan
 * @property {string} kernel
 * @property {string} variant
 * @property {string} key
 * @property {string[]} features              device features and WGSL language features
 * @property {Record<string, string>} shaders
 * @property {PlanBuffer[]} buffers
 * @property {PlanPass[]} passes
 * @property {{name: string, buffer: string, dtype: string, shape: number[]}[]} outputs
 */

/**
 * @typedef {Object} WeightBlob
 * @property {string} name
 * @property {string} url
 * @property {string} sha256
 * @property {number} bytes
 * @property {number} index                   the request buffer (plan `init`) it fills
 */

/**
 * @typedef {Object} WeightSpec               weights a request names instead of carrying
 * @property {string} model
 * @property {WeightBlob[]} blobs
 */

/**
 * @typedef {Object} ExecuteOptions
 * @property {"once"|"measure"} [mode]
 * @property {import("./timing.js").TimingSettings} [timing]
 * @property {number} [deadline]              performance.now()/1000 to stop sampling by
 * @property {WeightSpec} [weights]           kept on the device (see `residentWeights`)
 */

/**
 * @typedef {Object} ExecutorOptions
 * @property {"high-performance"|"low-power"} [powerPreference]
 * @property {"auto"|"timestamp-query"|"submitted-work-done"} [timer]
 * @property {number} [weightBudgetBytes]     resident model weights kept at most (1 GiB)
 */

/**
 * @typedef {Object} ResidentBuffer
 * @property {any} buffer                     the GPUBuffer
 * @property {string} model
 * @property {number} size
 */

/** An error the runtime turns into `{type, message, ...extra}` for Python. */
export class WebGPUError extends Error {
  /** @param {string} type @param {string} message @param {Object} [extra] */
  constructor(type, message, extra = {}) {
    super(message);
    this.name = type;
    this.type = type;
    this.extra = extra;
  }
}

const now = () => performance.now() / 1000;

/** Limits raised from WebGPU's defaults to the adapter's. */
const WANTED_LIMITS = [
  "maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY",
  "maxStorageBuffersPerShaderStage",
];
const OPTIONAL_FEATURES = ["timestamp-query", "shader-f16"];

/** @param {any} e */
function errorText(e) {
  if (e && typeof e === "object" && "message" in e) return `${e.name || "Error"}: ${e.message}`;
  return String(e);
}

/** @param {any} gpuLimits @returns {Record<string, number>} */
function plainLimits(gpuLimits) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const k in gpuLimits) {
    const v = gpuLimits[k];
    if (typeof v === "number") out[k] = v;
  }
  return out;
}

/**
 * Throw ResourceLimitError if the plan exceeds the device's limits (nothing dispatched yet).
 * The same checks as accel_toolkit.backends._wgsl.check_limits.
 * @param {ComputePlan} plan @param {Record<string, number>} limits
 */
export function checkLimits(plan, limits) {
  const what = `${plan.kernel} (${plan.variant})`;
  /** @param {number} value @param {string} key @param {string} label */
  const over = (value, key, label) => {
    const cap = limits[key];
    if (typeof cap === "number" && value > cap) {
      throw new WebGPUError("ResourceLimitError",
        `${what}: ${label} is ${value.toLocaleString("en")}, more than this device's ${key} ` +
        `(${cap.toLocaleString("en")}); use smaller parameters or a device with larger limits.`);
    }
  };
  /** @type {Record<string, string>} */
  const usage = {};
  for (const b of plan.buffers) {
    usage[b.name] = b.usage;
    over(b.size, "maxBufferSize", `buffer '${b.name}' size in bytes`);
    if (b.usage === "uniform") over(b.size, "maxUniformBufferBindingSize", `uniform buffer '${b.name}' size in bytes`);
    else over(b.size, "maxStorageBufferBindingSize", `storage buffer '${b.name}' size in bytes`);
  }
  for (const p of plan.passes) {
    p.workgroups.forEach((n, i) => over(n, "maxComputeWorkgroupsPerDimension", `pass ${p.entry}: workgroups along ${"xyz"[i]}`));
    const ws = p.workgroup_size || [1, 1, 1];
    over(ws[0] * ws[1] * ws[2], "maxComputeInvocationsPerWorkgroup", `pass ${p.entry}: invocations per workgroup`);
    ws.forEach((n, i) => over(n, `maxComputeWorkgroupSize${"XYZ"[i]}`, `pass ${p.entry}: workgroup size ${"xyz"[i]}`));
    const storage = p.bindings.filter((b) => usage[b] !== "uniform").length;
    over(storage, "maxStorageBuffersPerShaderStage", `pass ${p.entry}: storage buffers`);
  }
}

/** @param {string} s */
async function sha1(s) {
  const d = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(s));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class WebGPUExecutor {
  /**
   * @param {ExecutorOptions} [options]
   * @returns {Promise<WebGPUExecutor>}
   */
  static async create(options = {}) {
    const ex = new WebGPUExecutor(options);
    await ex.open();
    return ex;
  }

  /** @param {ExecutorOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {any} */ this.adapter = null;
    /** @type {any} */ this.device = null;
    /** @type {any} */ this.lost = null;
    /** @type {Map<string, any>} */ this.modules = new Map();
    /** @type {Map<string, any>} */ this.pipelines = new Map();
    /** @type {Record<string, number>} */ this.limits = {};
    /** @type {Set<string>} */ this.features = new Set();
    /** @type {Map<string, ResidentBuffer>} */ this.resident = new Map();
    /** @type {Map<string, number>} */ this.lastUse = new Map();  // model -> use counter
    this.uses = 0;
    this.weightBudget = options.weightBudgetBytes ?? 2 ** 30;
  }

  /** Request adapter and device (again after a loss); caches start empty. */
  async open() {
    const gpu = /** @type {any} */ (globalThis.navigator)?.gpu;
    if (!gpu) {
      throw new WebGPUError("UnsupportedKernelError",
        "navigator.gpu is missing: WebGPU is disabled or the page is not a secure context " +
        "(serve it from http://127.0.0.1 and start Chromium with --enable-unsafe-webgpu).");
    }
    let adapter;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: this.options.powerPreference || "high-performance" });
    } catch (e) {
      throw new WebGPUError("UnsupportedKernelError", `requestAdapter failed: ${errorText(e)}`);
    }
    if (!adapter) throw new WebGPUError("UnsupportedKernelError", "requestAdapter() returned null: no usable WebGPU adapter.");
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
    /** @type {Record<string, number>} */
    const requiredLimits = {};
    for (const k of WANTED_LIMITS) {
      if (typeof adapter.limits[k] === "number") requiredLimits[k] = adapter.limits[k];
    }
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    this.adapter = adapter;
    this.device = device;
    this.lost = null;
    this.modules = new Map();
    this.pipelines = new Map();
    this.dropWeights();  // buffers of a lost device are gone with it
    this.limits = plainLimits(device.limits);
    this.features = new Set([...device.features].map(String));
    for (const f of gpu.wgslLanguageFeatures || []) this.features.add(String(f));
    device.lost.then((/** @type {any} */ info) => {
      if (this.device === device) this.lost = info || { reason: "unknown", message: "" };
    });
  }

  /** Where results come from: adapter, device features and limits. */
  async info() {
    const a = this.adapter;
    const i = a?.info || {};
    const name = i.description || i.device || [i.vendor, i.architecture].filter(Boolean).join(" ") || "WebGPU adapter";
    return {
      name,
      adapter: {
        vendor: i.vendor || "", architecture: i.architecture || "", device: i.device || "",
        description: i.description || "",
        isFallbackAdapter: Boolean(i.isFallbackAdapter ?? a?.isFallbackAdapter ?? false),
      },
      features: [...this.features].sort(),
      limits: this.limits,
      timer: this.timerKind(),
    };
  }

  /** "timestamp-query" when the device has it (and options allow), else "submitted-work-done". */
  timerKind() {
    const want = this.options.timer || "auto";
    if (want === "submitted-work-done") return want;
    if (this.device?.features.has("timestamp-query")) return "timestamp-query";
    if (want === "timestamp-query") {
      throw new WebGPUError("UnsupportedKernelError", "timer 'timestamp-query' asked for, but the device lacks the feature.");
    }
    return "submitted-work-done";
  }

  /**
   * A shader module, compiled once per source; compile errors name shader file and line.
   * @param {ComputePlan} plan @param {string} shader
   */
  async module(plan, shader) {
    const src = plan.shaders[shader];
    if (typeof src !== "string") throw new WebGPUError("KernelExecutionError", `plan has no shader ${shader}`);
    const key = await sha1(src);
    let mod = this.modules.get(key);
    if (mod) return mod;
    this.device.pushErrorScope("validation");
    mod = this.device.createShaderModule({ label: shader, code: src });
    const info = await mod.getCompilationInfo();
    const scopeError = await this.device.popErrorScope();
    const errors = info.messages.filter((/** @type {any} */ m) => m.type === "error");
    if (errors.length || scopeError) {
      const m = errors[0];
      const message = m ? m.message : scopeError.message;
      const line = m ? m.lineNum : null;
      const column = m ? m.linePos : null;
      const lines = src.split("\n");
      const text = line && line <= lines.length ? `\n    ${line} | ${lines[line - 1]}` : "";
      throw new WebGPUError("ShaderCompileError",
        `${plan.kernel} (${plan.variant}): WGSL compile error in shaders/${shader}` +
        `${line ? `:${line}:${column}` : ""}: ${message}${text}`,
        { shader, line, column, compiler_message: message });
    }
    this.modules.set(key, mod);
    return mod;
  }

  /**
   * The pipeline of one pass, cached by source + entry point + constants.
   * @param {ComputePlan} plan @param {PlanPass} pass
   * @returns {Promise<{pipeline: any, cached: boolean}>}
   */
  async pipeline(plan, pass) {
    const key = `${await sha1(plan.shaders[pass.shader])}|${pass.entry}|${JSON.stringify(pass.constants || {})}`;
    const hit = this.pipelines.get(key);
    if (hit) return { pipeline: hit, cached: true };
    const module = await this.module(plan, pass.shader);
    let pipeline;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        label: `${plan.kernel}:${pass.entry}`, layout: "auto",
        compute: { module, entryPoint: pass.entry, constants: pass.constants || {} },
      });
    } catch (e) {
      const message = errorText(e);
      throw new WebGPUError("ShaderCompileError",
        `${plan.kernel} (${plan.variant}): pipeline for shaders/${pass.shader} entry ${pass.entry} ` +
        `failed: ${message}`, { shader: pass.shader, line: null, column: null, compiler_message: message });
    }
    this.pipelines.set(key, pipeline);
    return { pipeline, cached: false };
  }

  /** Bytes of resident weights, all models. */
  residentBytes() {
    let n = 0;
    for (const r of this.resident.values()) n += r.size;
    return n;
  }

  /**
   * Free the resident weights of `model` (every model when omitted).
   * @param {string} [model]
   * @returns {number}  buffers freed
   */
  dropWeights(model) {
    let n = 0;
    for (const [k, r] of [...this.resident]) {
      if (model !== undefined && r.model !== model) continue;
      try { r.buffer.destroy(); } catch { /* a lost device's buffer */ }
      this.resident.delete(k);
      n++;
    }
    if (model === undefined) this.lastUse.clear();
    else this.lastUse.delete(model);
    return n;
  }

  /**
   * Free least recently used models other than `keep` until `need` more bytes fit the budget
   * (`all`: free every other model).
   * @param {string} keep @param {number} need @param {boolean} [all]
   * @returns {string[]}  the models freed
   */
  evictFor(keep, need, all = false) {
    const freed = [];
    const others = [...this.lastUse].filter(([m]) => m !== keep).sort((a, b) => a[1] - b[1]);
    for (const [m] of others) {
      if (!all && this.residentBytes() + need <= this.weightBudget) break;
      if (this.dropWeights(m)) freed.push(m);
    }
    return freed;
  }

  /**
   * The GPU buffers of a request's weights: those already on the device (same model, SHA-256
   * and size) are bound as they are; the others are loaded (`loadWeights`: IndexedDB, else
   * the page server; every tensor checked by SHA-256), uploaded once and kept.
   * @param {WeightSpec} spec
   * @param {Map<number, number>} sizes  plan buffer size by request buffer index
   * @returns {Promise<{bound: Map<number, any>, stats: Record<string, any>}>}
   */
  async residentWeights(spec, sizes) {
    const t0 = now();
    const device = this.device;
    /** @param {WeightBlob} b */
    const keyOf = (b) => `${spec.model}|${b.sha256}|${sizes.get(b.index)}`;
    /** @type {Map<number, any>} */
    const bound = new Map();
    /** @type {WeightBlob[]} */
    const missing = [];
    for (const b of spec.blobs) {
      if (!sizes.has(b.index)) {
        throw new WebGPUError("KernelExecutionError", `weight '${b.name}' names request buffer ${b.index}, which no plan buffer takes`);
      }
      const hit = this.resident.get(keyOf(b));
      if (hit) bound.set(b.index, hit.buffer);
      else missing.push(b);
    }
    this.lastUse.set(spec.model, ++this.uses);
    /** @type {Record<string, any>} */
    const stats = { model: spec.model, blobs: spec.blobs.length, resident: spec.blobs.length - missing.length,
      uploaded: 0, uploaded_bytes: 0, fetched: 0, cached: 0, corrupted: [], evicted: [],
      load_s: 0, upload_s: 0, total_s: 0 };
    if (missing.length) {
      const { loadWeights } = await import("./model_weights.js");
      const got = await loadWeights(spec.model, missing.map((b) => ({ name: b.name, url: b.url, sha256: b.sha256, bytes: b.bytes })));
      const { total_s, ...load } = got.stats;
      Object.assign(stats, load, { load_s: total_s });
      /** @type {Map<string, {b: WeightBlob, data: Uint8Array}>} */
      const fresh = new Map();  // one buffer per content, even if two names share it
      missing.forEach((b, k) => fresh.set(keyOf(b), { b, data: got.buffers[k] }));
      let need = 0;
      for (const { b } of fresh.values()) need += /** @type {number} */ (sizes.get(b.index));
      stats.evicted = this.evictFor(spec.model, need);
      const t = now();
      const U = /** @type {any} */ (globalThis).GPUBufferUsage;
      for (const { b, data } of fresh.values()) {
        const size = /** @type {number} */ (sizes.get(b.index));
        if (data.byteLength > size || data.byteLength % 4) {
          throw new WebGPUError("KernelExecutionError",
            `weight '${b.name}' has ${data.byteLength} bytes; the plan's buffer has ${size}`);
        }
      }
      const upload = () => {
        const made = [];
        device.pushErrorScope("out-of-memory");
        for (const [key, { b, data }] of fresh) {
          const size = /** @type {number} */ (sizes.get(b.index));
          const buffer = device.createBuffer({ label: `${spec.model}/${b.name}`, size, usage: U.STORAGE | U.COPY_DST });
          device.queue.writeBuffer(buffer, 0, data);
          made.push({ key, buffer, size });
        }
        return made;
      };
      let made = upload();
      if (await device.popErrorScope()) {  // out of memory: free every other model, once more
        for (const m of made) m.buffer.destroy();
        stats.evicted.push(...this.evictFor(spec.model, need, true));
        made = upload();
        if (await device.popErrorScope()) {
          for (const m of made) m.buffer.destroy();
          throw new WebGPUError("ResourceLimitError",
            `${spec.model}: the device ran out of memory uploading ${need.toLocaleString("en")} bytes of weights; ` +
            "use a smaller model or close other pages using the GPU.");
        }
      }
      await device.queue.onSubmittedWorkDone();
      stats.upload_s = now() - t;
      for (const m of made) {
        this.resident.set(m.key, { buffer: m.buffer, model: spec.model, size: m.size });
        stats.uploaded++;
        stats.uploaded_bytes += m.size;
      }
      for (const b of missing) bound.set(b.index, /** @type {ResidentBuffer} */ (this.resident.get(keyOf(b))).buffer);
    }
    stats.total_s = now() - t0;
    return { bound, stats };
  }

  /**
   * Run a plan once or measure it.
   * @param {ComputePlan} plan
   * @param {(ArrayBuffer|ArrayBufferView)[]} binaryBuffers  contents of the buffers with `init`
   *   (those that `opts.weights` names may be empty: they come from the resident weights)
   * @param {ExecuteOptions} [opts]
   * @returns {Promise<{reply: Object, buffers: ArrayBuffer[]}>}
   */
  async execute(plan, binaryBuffers, opts = {}) {
    if (this.lost || !this.device) await this.open();
    const t0 = now();
    const device = this.device;
    for (const f of plan.features || []) {
      if (!this.features.has(f)) {
        throw new WebGPUError("UnsupportedKernelError",
          `${plan.kernel} (${plan.variant}) needs '${f}', which this adapter/browser lacks.`);
      }
    }
    checkLimits(plan, this.limits);
    const timer = opts.mode === "measure" ? this.timerKind() : "submitted-work-done";

    const c0 = now();
    /** @type {{pipeline: any, cached: boolean}[]} */
    const pipes = [];
    for (const p of plan.passes) pipes.push(await this.pipeline(plan, p));
    const compile_s = now() - c0;
    const cached = pipes.every((p) => p.cached);

    /** @type {any[]} */
    const owned = [];
    try {
      const U = /** @type {any} */ (globalThis).GPUBufferUsage;
      /** @type {Record<string, number>} */
      const usage = {
        input: U.STORAGE | U.COPY_DST, uniform: U.UNIFORM | U.COPY_DST,
        output: U.STORAGE | U.COPY_SRC | U.COPY_DST, scratch: U.STORAGE | U.COPY_SRC | U.COPY_DST,
      };
      /** @type {Record<string, any>} */
      const bufs = {};
      /** @type {Record<string, number>} */
      const sizes = {};
      /** @type {{bound: Map<number, any>, stats: Record<string, any>} | null} */
      let weights = null;
      if (opts.weights) {
        /** @type {Map<number, number>} */
        const bySlot = new Map();
        for (const b of plan.buffers) if (b.init !== null && b.init !== undefined) bySlot.set(b.init, b.size);
        weights = await this.residentWeights(opts.weights, bySlot);
      }
      let upload_bytes = weights ? weights.stats.uploaded_bytes : 0;
      for (const b of plan.buffers) {
        const resident = b.init !== null && b.init !== undefined ? weights?.bound.get(b.init) : undefined;
        if (resident) {  // kept on the device between requests: not written, not destroyed
          bufs[b.name] = resident;
          sizes[b.name] = b.size;
          continue;
        }
        const buf = device.createBuffer({ label: b.name, size: b.size, usage: usage[b.usage] });
        owned.push(buf);
        bufs[b.name] = buf;
        sizes[b.name] = b.size;
        if (b.init !== null && b.init !== undefined) {
          const data = binaryBuffers[b.init];
          if (!data) throw new WebGPUError("KernelExecutionError", `request buffer ${b.init} for '${b.name}' is missing`);
          if (data.byteLength > b.size || data.byteLength % 4) {
            throw new WebGPUError("KernelExecutionError",
              `request buffer ${b.init} for '${b.name}' has ${data.byteLength} bytes; the plan's buffer has ${b.size}`);
          }
          device.queue.writeBuffer(buf, 0, data);
          upload_bytes += data.byteLength;
        }
      }
      const groups = plan.passes.map((p, i) => device.createBindGroup({
        layout: pipes[i].pipeline.getBindGroupLayout(0),
        entries: p.bindings.map((name, k) => ({ binding: k, resource: { buffer: bufs[name], offset: 0, size: sizes[name] } })),
      }));

      let query = null, resolve = null, readTs = null;
      if (timer === "timestamp-query") {
        query = device.createQuerySet({ type: "timestamp", count: 2 });
        resolve = device.createBuffer({ size: 16, usage: U.QUERY_RESOLVE | U.COPY_SRC });
        readTs = device.createBuffer({ size: 16, usage: U.MAP_READ | U.COPY_DST });
        owned.push(query, resolve, readTs);
      }

      /** @param {number} n @param {boolean} stamp */
      const encode = (n, stamp) => {
        const enc = device.createCommandEncoder();
        const last = n * plan.passes.length - 1;
        let k = 0;
        for (let i = 0; i < n; i++) {
          plan.passes.forEach((p, j) => {
            /** @type {any} */
            const desc = {};
            if (stamp && (k === 0 || k === last)) {
              desc.timestampWrites = { querySet: query };
              if (k === 0) desc.timestampWrites.beginningOfPassWriteIndex = 0;
              if (k === last) desc.timestampWrites.endOfPassWriteIndex = 1;
            }
            const cp = enc.beginComputePass(desc);
            cp.setPipeline(pipes[j].pipeline);
            cp.setBindGroup(0, groups[j]);
            cp.dispatchWorkgroups(p.workgroups[0], p.workgroups[1] ?? 1, p.workgroups[2] ?? 1);
            cp.end();
            k++;
          });
        }
        if (stamp) {
          enc.resolveQuerySet(query, 0, 2, resolve, 0);
          enc.copyBufferToBuffer(resolve, 0, readTs, 0, 16);
        }
        return enc.finish();
      };

      /** Wall seconds for n calls, until the queue reports the work done. @param {number} n */
      const wallBatch = async (n) => {
        const s = now();
        device.queue.submit([encode(n, false)]);
        await device.queue.onSubmittedWorkDone();
        return now() - s;
      };
      /** Device seconds for n calls, between the two timestamps. @param {number} n */
      const stampBatch = async (n) => {
        device.queue.submit([encode(n, true)]);
        await readTs.mapAsync(/** @type {any} */ (globalThis).GPUMapMode.READ);
        const t = new BigInt64Array(readTs.getMappedRange().slice(0));
        readTs.unmap();
        return Number(t[1] - t[0]) / 1e9;
      };

      /**
       * One more call with a timestamp pair around every pass: seconds per pass, in plan
       * order (a query set holds at most 4096 timestamps, so plans of 2048 passes or fewer).
       * @returns {Promise<number[] | undefined>}
       */
      const perPass = async () => {
        const n = plan.passes.length;
        if (2 * n > 4096) return undefined;
        const qs = device.createQuerySet({ type: "timestamp", count: 2 * n });
        const res = device.createBuffer({ size: 16 * n, usage: U.QUERY_RESOLVE | U.COPY_SRC });
        const rd = device.createBuffer({ size: 16 * n, usage: U.MAP_READ | U.COPY_DST });
        owned.push(qs, res, rd);
        const enc = device.createCommandEncoder();
        plan.passes.forEach((p, j) => {
          const cp = enc.beginComputePass({ timestampWrites: {
            querySet: qs, beginningOfPassWriteIndex: 2 * j, endOfPassWriteIndex: 2 * j + 1 } });
          cp.setPipeline(pipes[j].pipeline);
          cp.setBindGroup(0, groups[j]);
          cp.dispatchWorkgroups(p.workgroups[0], p.workgroups[1] ?? 1, p.workgroups[2] ?? 1);
          cp.end();
        });
        enc.resolveQuerySet(qs, 0, 2 * n, res, 0);
        enc.copyBufferToBuffer(res, 0, rd, 0, 16 * n);
        device.queue.submit([enc.finish()]);
        await rd.mapAsync(/** @type {any} */ (globalThis).GPUMapMode.READ);
        const t = new BigInt64Array(rd.getMappedRange().slice(0));
        rd.unmap();
        return Array.from({ length: n }, (_, j) => Number(t[2 * j + 1] - t[2 * j]) / 1e9);
      };

      const firstStart = now();
      await wallBatch(1);
      // the first run: compiling, loading and uploading weights not yet resident, one call
      const first_run_s = compile_s + (weights ? weights.stats.total_s : 0) + (now() - firstStart);

      /** @type {Object} */
      let timing = { samples: [], inner_loops: 1, warmup_s: 0 };
      let usedTimer = timer;
      if (opts.mode === "measure") {
        let batch = wallBatch;
        if (timer === "timestamp-query") {
          // Some implementations return zeros; then wall time is the honest fallback.
          const probe = await stampBatch(1);
          if (probe > 0 && Number.isFinite(probe)) batch = stampBatch;
          else usedTimer = "submitted-work-done";
        }
        if (!opts.timing) throw new WebGPUError("KernelExecutionError", "mode 'measure' needs timing settings");
        const r = await timeLoop(batch, opts.timing, { deadline: opts.deadline });
        timing = { samples: r.samples, inner_loops: r.inner_loops, warmup_s: r.warmup_s, loop_first_s: r.first_run_s };
        if (batch === stampBatch && plan.passes.length > 1) {
          /** @type {any} */ (timing).pass_s = await perPass();
        }
      }

      // Read the outputs back (the values of the last call; every call computes the same).
      const enc = device.createCommandEncoder();
      const staging = plan.outputs.map((o) => {
        const size = sizes[o.buffer];
        const st = device.createBuffer({ size, usage: U.MAP_READ | U.COPY_DST });
        owned.push(st);
        enc.copyBufferToBuffer(bufs[o.buffer], 0, st, 0, size);
        return st;
      });
      device.queue.submit([enc.finish()]);
      /** @type {ArrayBuffer[]} */
      const out = [];
      for (const st of staging) {
        await st.mapAsync(/** @type {any} */ (globalThis).GPUMapMode.READ);
        out.push(st.getMappedRange().slice(0));
        st.unmap();
      }
      if (this.lost) throw new WebGPUError("DeviceLost", `the WebGPU device was lost: ${this.lost.message || this.lost.reason}`);

      const info = await this.info();
      const reply = {
        ok: true,
        outputs: plan.outputs.map((o, index) => ({ name: o.name, dtype: o.dtype, shape: o.shape, index })),
        ...timing,
        first_run_s,
        compile_s,
        cached,
        timer: usedTimer,
        upload_bytes,
        readbacks: staging.length,
        readback_bytes: out.reduce((n, b) => n + b.byteLength, 0),
        ...(weights ? { weights: weights.stats } : {}),
        wall_s: now() - t0,
        variant: plan.variant,
        plan_key: plan.key,
        device: { name: info.name, adapter: info.adapter, features: info.features, limits: info.limits },
      };
      return { reply, buffers: out };
    } catch (e) {
      if (e instanceof WebGPUError) throw e;
      if (this.lost) throw new WebGPUError("DeviceLost", `the WebGPU device was lost: ${this.lost.message || this.lost.reason}; it is recreated on the next request`);
      throw new WebGPUError("KernelExecutionError", `WebGPU failed running ${plan.kernel} (${plan.variant}): ${errorText(e)}`);
    } finally {
      for (const o of owned) { try { o.destroy(); } catch { /* ignore */ } }
    }
  }

  dispose() {
    this.dropWeights();
    this.modules.clear();
    this.pipelines.clear();
    try { this.device?.destroy(); } catch { /* ignore */ }
    this.device = null;
  }
}
