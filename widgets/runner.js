// @ts-check
/**
 * The TabRunner widget (accel_toolkit.tab.TabRunner): runs kernel requests from Python in
 * this browser tab with the shared runtime (widgets/runtime/index.js), over the widget's
 * custom messages with binary buffers both ways.
 *
 * Model-level (`initialize`, once per page): say hello, open the runtime (WebGPU adapter and
 * WebNN contexts), send `ready` with its info, then answer requests one at a time.
 * Model weights a webgpu request names and this page has not cached come from Python over
 * the same comm (`weights` messages, one per chunk of a tensor), not from a URL: the page may
 * run on another machine than the kernel. runtime/model_weights.js checks and caches them as it
 * does fetched bytes.
 * View-level (`render`): show the adapter, WebNN devices, browser and the sweep's status.
 *
 * The runtime's modules arrive in the model state (`_runtime_modules`, dependency order,
 * entry last; see accel_toolkit/tab/_bundle.py) and are loaded through blob URLs, because
 * anywidget loads this file as one module and relative imports cannot resolve from it.
 */

/**
 * The messages exchanged with Python, as accel_toolkit/tab/_protocols.py types them; requests
 * and replies are the runtime protocol of runtime/PROTOCOL.md.
 * @typedef {{ href: string, user_agent: string }} PageInfo
 * @typedef {{ id: string, op: string, time_limit_s?: number, [key: string]: any }} RuntimeRequest
 * @typedef {{ type: string, message: string, [key: string]: any }} ErrorInfo
 * @typedef {{ id?: string | null, ok: boolean, error?: ErrorInfo, [key: string]: any }} RuntimeReply
 * @typedef {{ kind: "hello", session: string, page: PageInfo }} Hello
 * @typedef {{ kind: "ready", session: string, info: Record<string, any>, error: string | null }} Ready
 * @typedef {{ kind: "reply", session: string, reply: RuntimeReply }} ReplyMessage
 * @typedef {{ kind: "request", request: RuntimeRequest }} RequestMessage
 * @typedef {{ kind: "weights", session: string, id: string, model: string, name: string,
 *   sha256: string, offset: number, length: number }} WeightsRequest
 * @typedef {{ kind: "weights", id: string, ok: boolean, error?: string }} WeightsReply
 */

/** Bytes of one `weights` message at most (a tensor larger than this comes in chunks). */
const WEIGHT_CHUNK = 8 * 2 ** 20;

/**
 * @typedef {{ get(name: string): any, set(name: string, value: any): void,
 *   save_changes(): void,
 *   send(content: Hello | Ready | ReplyMessage | WeightsRequest, callbacks?: any, buffers?: ArrayBuffer[]): void,
 *   on(event: string, cb: Function): void, off(event: string, cb?: Function): void }} Model
 * @typedef {{ name: string, parts: Array<string | { dep: string }> }} RuntimeModule
 * @typedef {{ info(): Promise<Record<string, any>>,
 *   handle(request: RuntimeRequest, buffers: ArrayBuffer[]):
 *   Promise<{ reply: RuntimeReply, buffers?: ArrayBuffer[] }>, dispose(): void }} Runtime
 */

/**
 * Load the runtime's module graph through blob URLs and return its entry module.
 * @param {RuntimeModule[]} modules
 * @returns {Promise<{ urls: string[], byName: Map<string, string>, mod: any }>}
 */
async function importRuntime(modules) {
  if (!modules.length) {
    throw new Error("Python sent no runtime modules: widgets/runtime/ is missing from the " +
      "accel_toolkit installation (reinstall it, or set ACCEL_TOOLKIT_ASSETS)");
  }
  /** @type {Map<string, string>} */
  const urls = new Map();
  for (const m of modules) {
    const text = m.parts.map((p) => {
      if (typeof p === "string") return p;
      const url = urls.get(p.dep);
      if (!url) throw new Error(`runtime module ${m.name} needs ${p.dep}, which was not sent first`);
      return url;
    }).join("");
    urls.set(m.name, URL.createObjectURL(new Blob([text], { type: "text/javascript" })));
  }
  const entry = modules[modules.length - 1];
  const mod = await import(/* webpackIgnore: true */ /** @type {string} */ (urls.get(entry.name)));
  return { urls: [...urls.values()], byName: urls, mod };
}

/**
 * The bytes of a widget message's buffer (never shared memory) as their own ArrayBuffer.
 * @param {DataView | ArrayBuffer} b @returns {ArrayBuffer}
 */
function toArrayBuffer(b) {
  if (b instanceof ArrayBuffer) return b;
  return /** @type {ArrayBuffer} */ (b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** @param {unknown} e */
function errorText(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function newSession() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export default {
  /** @param {{ model: Model }} ctx */
  initialize({ model }) {
    const session = newSession();
    /** @type {Runtime | null} */
    let runtime = null;
    /** @type {string | null} */
    let error = null;
    /** @type {string[]} */
    let urls = [];
    let disposed = false;
    const page = { href: location.href, user_agent: navigator.userAgent };
    model.send({ kind: "hello", session, page });

    /** @type {Map<string, {resolve: (b: ArrayBuffer) => void, reject: (e: Error) => void}>} */
    const asked = new Map();
    let asks = 0;
    /**
     * The byte source of runtime/model_weights.js in the tab: each chunk of the tensor is a
     * `weights` request to Python, answered with its bytes (checked by SHA-256 there).
     * @param {{ name: string, sha256: string, bytes: number }} blob @param {string} modelName
     * @returns {Promise<ArrayBuffer>}
     */
    const commBytes = async (blob, modelName) => {
      const out = new Uint8Array(blob.bytes);
      const n = Math.max(1, Math.ceil(blob.bytes / WEIGHT_CHUNK));
      await Promise.all(Array.from({ length: n }, async (_, c) => {
        const offset = c * WEIGHT_CHUNK;
        const length = Math.min(WEIGHT_CHUNK, blob.bytes - offset);
        const id = `w${++asks}`;
        /** @type {ArrayBuffer} */
        const got = await new Promise((resolve, reject) => {
          asked.set(id, { resolve, reject });
          model.send({ kind: "weights", session, id, model: modelName, name: blob.name,
                       sha256: blob.sha256, offset, length });
        });
        if (got.byteLength !== length) {
          throw new Error(`weight '${blob.name}': the kernel sent ${got.byteLength} bytes at ` +
            `offset ${offset}, not ${length}`);
        }
        out.set(new Uint8Array(got), offset);
      }));
      return out.buffer;
    };

    const opened = (async () => {
      try {
        const loaded = await importRuntime(model.get("_runtime_modules") || []);
        urls = loaded.urls;
        const weightsUrl = loaded.byName.get("runtime/model_weights.js");
        if (weightsUrl) {
          const weights = await import(/* webpackIgnore: true */ weightsUrl);
          weights.setByteSource(commBytes);
        }
        runtime = await loaded.mod.createRuntime(model.get("runtime_options") || {});
        const info = await /** @type {Runtime} */ (runtime).info();
        const full = { ...info, page, session };
        if (disposed) return;
        model.set("info", full);
        model.save_changes();
        model.send({ kind: "ready", session, info: full, error: null });
      } catch (e) {
        error = errorText(e);
        if (disposed) return;
        model.set("info", { error, page, session });
        model.save_changes();
        model.send({ kind: "ready", session, info: { page, session }, error });
      }
    })();

    // One request at a time, in arrival order: timings must not overlap.
    /** @type {Promise<void>} */
    let queue = opened;
    /**
     * @param {RequestMessage | WeightsReply | null | undefined} msg
     * @param {Array<DataView>} buffers
     */
    const onMessage = (msg, buffers) => {
      if (msg && msg.kind === "weights") {  // answers a request in flight: never queued
        const w = asked.get(msg.id);
        asked.delete(msg.id);
        if (!w) return;
        if (msg.ok && buffers && buffers.length === 1) w.resolve(toArrayBuffer(buffers[0]));
        else w.reject(new Error(`the kernel could not send weights: ${msg.error ?? "no bytes"}`));
        return;
      }
      if (!msg || msg.kind !== "request") return;
      const request = msg.request;
      const inputs = (buffers || []).map(toArrayBuffer);
      queue = queue.then(async () => {
        if (disposed) return;
        if (request.op === "ping") {
          model.send({ kind: "reply", session, reply: { id: request.id, ok: true, pong: performance.now() } });
          return;
        }
        if (!runtime) {
          model.send({ kind: "reply", session, reply: { id: request.id, ok: false,
            error: { type: "BackendUnavailableError",
                     message: `the tab could not open the runtime: ${error}` } } });
          return;
        }
        try {
          const { reply, buffers: out } = await runtime.handle(request, inputs);
          model.send({ kind: "reply", session, reply: { ...reply, id: request.id } }, undefined,
                     out || []);
        } catch (e) {
          model.send({ kind: "reply", session, reply: { id: request.id, ok: false,
            error: { type: "KernelExecutionError", message: errorText(e) } } });
        }
      });
    };
    model.on("msg:custom", onMessage);
    return () => {
      disposed = true;
      model.off("msg:custom", onMessage);
      for (const w of asked.values()) w.reject(new Error("the widget was closed"));
      asked.clear();
      try { runtime?.dispose(); } catch { /* already gone */ }
      for (const u of urls) URL.revokeObjectURL(u);
    };
  },

  /** @param {{ model: Model, el: HTMLElement }} ctx */
  render({ model, el }) {
    el.classList.add("accel-runner");
    const box = document.createElement("div");
    box.style.cssText = "font: 12px/1.4 var(--jp-ui-font-family, sans-serif); padding: 4px 8px;" +
      "border-left: 3px solid var(--jp-brand-color1, #1976d2); margin: 2px 0;";
    el.appendChild(box);
    /** @param {string} tag @param {string} text @param {string} [css] */
    const node = (tag, text, css) => {
      const n = document.createElement(tag);
      n.textContent = text;
      if (css) n.style.cssText = css;
      return n;
    };
    const draw = () => {
      const info = model.get("info") || {};
      const status = model.get("status") || "";
      box.replaceChildren();
      box.appendChild(node("b", "accel_toolkit tab runner"));
      if (!info.session && !info.error) {
        box.appendChild(node("div", "opening WebGPU / WebNN in this tab…"));
      } else if (info.error) {
        box.appendChild(node("div", `runtime unavailable: ${info.error}`, "color: #cf222e"));
      } else {
        const g = info.webgpu || {};
        const gpu = g.available
          ? `WebGPU: ${[g.vendor, g.architecture, g.device].filter(Boolean).join(" / ") || "adapter"}` +
            `${g.description ? ` (${g.description})` : ""}${g.isFallbackAdapter ? ", fallback adapter" : ""}`
          : `WebGPU: not available (${g.reason ?? "navigator.gpu is missing"})`;
        box.appendChild(node("div", gpu));
        const nn = info.webnn || {};
        const devs = Object.entries(nn.devices || {});
        const nnText = devs.length
          ? "WebNN: " + devs.map(([dt, d]) => `${dt} ${/** @type {any} */ (d).available ? "✓" : "✗"}`).join(", ")
          : `WebNN: not available (${nn.reason ?? "navigator.ml is missing"})`;
        box.appendChild(node("div", nnText));
        const b = info.browser || {};
        const browser = b.name ? `${b.name} ${b.version ?? ""}` : (b.userAgent ?? info.page?.user_agent ?? "");
        box.appendChild(node("div", `Browser: ${browser}`, "color: var(--jp-ui-font-color2, #666)"));
      }
      if (status) box.appendChild(node("div", status, "margin-top: 2px"));
    };
    draw();
    model.on("change:info", draw);
    model.on("change:status", draw);
    return () => {
      model.off("change:info", draw);
      model.off("change:status", draw);
    };
  },
};
