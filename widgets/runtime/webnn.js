// @ts-check
/**
 * WebNN executor of accel_toolkit: interprets a GraphSpec (see PROTOCOL.md) with
 * MLGraphBuilder, caches built graphs by key, and times `context.dispatch` followed by
 * `context.readTensor` of the outputs with the shared timing loop.
 *
 * Venue-agnostic: it needs only `navigator.ml`, so it runs the same in the headless page and
 * in a live JupyterLab tab.
 */

import { timeLoop } from "./timing.js";

/**
 * @typedef {Object} OperandDesc
 * @property {string} name
 * @property {string} dataType   float32 | float16 | int8 | uint8 | int32 | uint32 | int64
 * @property {number[]} shape
 * @property {number} [init]     index of the request buffer holding the bytes
 * @property {number} [fill]     constants only: every element equals this number
 */

/**
 * @typedef {Object} GraphSpec
 * @property {string} kernel
 * @property {string} key
 * @property {OperandDesc[]} inputs
 * @property {OperandDesc[]} constants
 * @property {{op: string, args: any[], options?: Object, out: string}[]} ops
 * @property {{name: string, operand: string, dtype: string, shape: number[]}[]} outputs
 */

/** An error the runtime turns into `{type, message, ...}` for Python. */
export class RuntimeError extends Error {
  /** @param {string} type @param {string} message @param {Object} [extra] */
  constructor(type, message, extra = {}) {
    super(message);
    this.type = type;
    this.extra = extra;
  }
}

const now = () => performance.now() / 1000;

/** @type {Record<string, any>} */
const VIEWS = {
  float32: Float32Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array,
  int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
};

/**
 * A typed-array view of `bytes` suited to `dataType` (float16 as raw Uint16 bits).
 * @param {string} dataType @param {ArrayBuffer} bytes
 */
function view(dataType, bytes) {
  const V = VIEWS[dataType];
  if (!V) throw new RuntimeError("UnsupportedKernelError", `WebNN: unknown dataType ${dataType}`);
  return new V(bytes);
}

/** @param {number[]} shape */
const count = (shape) => shape.reduce((a, b) => a * b, 1);

/**
 * A constant filled with one number (float16 fills are converted to half bits).
 * @param {string} dataType @param {number[]} shape @param {number} value
 */
function filled(dataType, shape, value) {
  const n = count(shape);
  if (dataType === "float16") {
    const f = new Float16Array(n).fill(value);
    return new Uint16Array(f.buffer);
  }
  const V = VIEWS[dataType];
  return dataType.endsWith("64") ? new V(n).fill(BigInt(value)) : new V(n).fill(value);
}

export class WebNNExecutor {
  /**
   * @param {any} context   an MLContext
   * @param {string} deviceType
   */
  constructor(context, deviceType) {
    this.context = context;
    this.deviceType = deviceType;
    /** @type {Map<string, any>} key -> MLGraph (insertion order = LRU order) */
    this.graphs = new Map();
    this.maxGraphs = 32;
    this.lost = false;
    if (context.lost && typeof context.lost.then === "function") {
      context.lost.then(() => { this.lost = true; });
    }
  }

  /**
   * Create a context on `deviceType` (cpu, gpu or npu).
   * @param {{deviceType?: string}} [options]
   */
  static async create(options = {}) {
    const ml = /** @type {any} */ (globalThis.navigator)?.ml;
    const deviceType = options.deviceType || "cpu";
    if (!ml) {
      throw new RuntimeError("UnsupportedKernelError",
        "this browser has no WebNN (navigator.ml is missing); use a Chromium with WebNN " +
        "(the @sparticuz/chromium that `make install` provides)");
    }
    let context;
    try {
      context = await ml.createContext({ deviceType });
    } catch (e) {
      throw new RuntimeError("UnsupportedKernelError",
        `WebNN cannot create a ${deviceType} context: ${errorText(e)}`);
    }
    return new WebNNExecutor(context, deviceType);
  }

  /** What this context supports (opSupportLimits as plain data). */
  async info() {
    return { deviceType: this.deviceType, opSupportLimits: plain(this.context.opSupportLimits()) };
  }

  /**
   * Build (or fetch from the cache) the MLGraph of `spec`.
   * @param {GraphSpec} spec @param {ArrayBuffer[]} buffers
   * @returns {Promise<{graph: any, compile_s: number, cached: boolean}>}
   */
  async graph(spec, buffers) {
    const key = `${spec.key}|${this.deviceType}`;
    const hit = this.graphs.get(key);
    if (hit) {
      this.graphs.delete(key);
      this.graphs.set(key, hit);
      return { graph: hit, compile_s: 0, cached: true };
    }
    const t0 = now();
    const MLGraphBuilder = /** @type {any} */ (globalThis).MLGraphBuilder;
    const b = new MLGraphBuilder(this.context);
    /** @type {Record<string, any>} */
    const env = {};
    let where = "inputs";
    try {
      for (const d of spec.inputs) env[d.name] = b.input(d.name, { dataType: d.dataType, shape: d.shape });
      where = "constants";
      for (const d of spec.constants) {
        let data;
        if (d.init !== undefined && d.init !== null) data = view(d.dataType, buffers[d.init]);
        else data = filled(d.dataType, d.shape, d.fill ?? 0);
        env[d.name] = b.constant({ dataType: d.dataType, shape: d.shape }, data);
      }
      for (const op of spec.ops) {
        where = `op ${op.op} -> ${op.out}`;
        if (typeof b[op.op] !== "function") {
          throw new RuntimeError("UnsupportedKernelError", `WebNN in this browser has no ${op.op} operator`);
        }
        // a string naming a known operand is that operand; any other value (numbers, arrays,
        // data types such as "float32") passes through
        const args = op.args.map((a) => (typeof a === "string" && a in env ? env[a] : a));
        /** @type {Record<string, any>} */
        const options = {};
        for (const [k, v] of Object.entries(op.options || {})) {
          options[k] = typeof v === "string" && v in env ? env[v] : v;
        }
        env[op.out] = b[op.op](...args, options);
      }
      where = "build";
      /** @type {Record<string, any>} */
      const outs = {};
      for (const o of spec.outputs) outs[o.name] = operand(env, o.operand, "output");
      const graph = await b.build(outs);
      this.graphs.set(key, graph);
      while (this.graphs.size > this.maxGraphs) {
        const [old, g] = /** @type {[string, any]} */ (this.graphs.entries().next().value);
        this.graphs.delete(old);
        try { g.destroy(); } catch { /* already gone */ }
      }
      return { graph, compile_s: now() - t0, cached: false };
    } catch (e) {
      if (e instanceof RuntimeError) throw e;
      throw new RuntimeError("UnsupportedKernelError",
        `WebNN (${this.deviceType}) cannot build ${spec.kernel} at ${where}: ${errorText(e)}`,
        { stage: where });
    }
  }

  /**
   * Run a graph once or measure it.
   * @param {GraphSpec} spec
   * @param {ArrayBuffer[]} buffers
   * @param {{mode?: string, timing?: any, deadline?: number}} [opts]
   * @returns {Promise<{reply: Object, buffers: ArrayBuffer[]}>}
   */
  async execute(spec, buffers, opts = {}) {
    if (this.lost) throw new RuntimeError("DeviceLost", `the WebNN ${this.deviceType} context was lost`);
    const t0 = now();
    const { graph, compile_s, cached } = await this.graph(spec, buffers);
    const ctx = this.context;
    /** @type {Record<string, any>} */
    const inputs = {};
    /** @type {Record<string, any>} */
    const outputs = {};
    const tensors = [];
    try {
      for (const d of spec.inputs) {
        const t = await ctx.createTensor({ dataType: d.dataType, shape: d.shape, writable: true });
        ctx.writeTensor(t, buffers[/** @type {number} */ (d.init)]);
        inputs[d.name] = t;
        tensors.push(t);
      }
      for (const o of spec.outputs) {
        const t = await ctx.createTensor({ dataType: o.dtype, shape: o.shape, readable: true });
        outputs[o.name] = t;
        tensors.push(t);
      }
      const outList = spec.outputs.map((o) => outputs[o.name]);
      /** @param {number} n */
      const batch = async (n) => {
        const s = now();
        for (let i = 0; i < n; i++) ctx.dispatch(graph, inputs, outputs);
        await Promise.all(outList.map((t) => ctx.readTensor(t)));
        return now() - s;
      };
      /** @type {Object} */
      let timing;
      if (opts.mode === "measure") {
        const r = await timeLoop(batch, opts.timing, { deadline: opts.deadline });
        timing = { ...r, first_run_s: r.first_run_s + compile_s };
      } else {
        const first = await batch(1);
        timing = { samples: [], inner_loops: 1, first_run_s: first + compile_s, warmup_s: 0 };
      }
      const out = await Promise.all(outList.map((t) => ctx.readTensor(t)));
      const reply = {
        ok: true,
        outputs: spec.outputs.map((o, index) => ({ name: o.name, dtype: o.dtype, shape: o.shape, index })),
        ...timing,
        compile_s,
        cached,
        timer: "webnn-compute",
        wall_s: now() - t0,
        device: { webnn_device_type: this.deviceType },
      };
      return { reply, buffers: out };
    } catch (e) {
      if (e instanceof RuntimeError) throw e;
      if (this.lost) throw new RuntimeError("DeviceLost", `the WebNN ${this.deviceType} context was lost: ${errorText(e)}`);
      throw new RuntimeError("KernelExecutionError", `WebNN (${this.deviceType}) failed running ${spec.kernel}: ${errorText(e)}`);
    } finally {
      for (const t of tensors) { try { t.destroy(); } catch { /* ignore */ } }
    }
  }

  dispose() {
    for (const g of this.graphs.values()) { try { g.destroy(); } catch { /* ignore */ } }
    this.graphs.clear();
    try { this.context.destroy?.(); } catch { /* ignore */ }
  }
}

/** @param {Record<string, any>} env @param {string} name @param {string} where */
function operand(env, name, where) {
  if (!(name in env)) throw new RuntimeError("KernelExecutionError", `GraphSpec: ${where} refers to unknown operand ${name}`);
  return env[name];
}

/** @param {any} e */
export function errorText(e) {
  if (e && typeof e === "object" && "message" in e) return `${e.name || "Error"}: ${e.message}`;
  return String(e);
}

/** @param {any} x */
function plain(x) {
  return JSON.parse(JSON.stringify(x));
}
