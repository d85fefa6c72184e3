// model_ortweb.js: ONNX Runtime Web as a peer of the toolkit's model backends
// (benchmarks/model_peers.py). Loaded after ort.all.min.js (global `ort`); the ONNX graph is
// the toolkit's own (accel_toolkit/models/_onnx.py), fetched from the benchmark's server.

/**
 * @typedef {{ids: number[], types: number[], mask: number[], batch: number, seq: number}} Feeds
 */

/** @type {any} */
const g = globalThis;

export const ortPeer = {
  /** @type {any} */
  session: null,
  ep: "",

  /**
   * Create a session of /model.onnx on one execution provider.
   * @param {string} ep "webgpu" or "wasm"
   * @returns {Promise<{ep: string, create_s: number, version: string}>}
   */
  async load(ep) {
    const ort = g.ort;
    ort.env.wasm.wasmPaths = "/node_modules/onnxruntime-web/dist/";
    ort.env.wasm.numThreads = 1;  // no cross-origin isolation here: one thread either way
    const t0 = performance.now();
    const bytes = await (await fetch("/model.onnx")).arrayBuffer();
    if (this.session) await this.session.release();
    this.session = await ort.InferenceSession.create(bytes, { executionProviders: [ep] });
    this.ep = ep;
    return { ep, create_s: (performance.now() - t0) / 1e3, version: ort.env.versions?.web || "" };
  },

  /**
   * Time `calls` forwards, inputs in and embeddings out (as an ORT Web user measures it).
   * @param {Feeds} f
   * @param {number} calls
   * @returns {Promise<{first_s: number, times_s: number[], embeddings: number[]}>}
   */
  async run(f, calls) {
    const ort = g.ort;
    const dims = [f.batch, f.seq];
    const big = (/** @type {number[]} */ a) => BigInt64Array.from(a.map((v) => BigInt(v)));
    const feeds = () => ({
      input_ids: new ort.Tensor("int64", big(f.ids), dims),
      attention_mask: new ort.Tensor("int64", big(f.mask), dims),
      token_type_ids: new ort.Tensor("int64", big(f.types), dims),
    });
    const once = async () => {
      const out = await this.session.run(feeds());
      return Array.from(await out.embeddings.getData());
    };
    let t0 = performance.now();
    const embeddings = await once();
    const first = (performance.now() - t0) / 1e3;
    const times = [];
    for (let i = 0; i < calls; i++) {
      t0 = performance.now();
      await once();
      times.push((performance.now() - t0) / 1e3);
    }
    return { first_s: first, times_s: times, embeddings };
  },
};

g.ortPeer = ortPeer;
g.__ortReady = true;
