// @ts-check
/**
 * The Explorer panel (accel_toolkit.tab.Explorer): pick a kernel, its parameters and the
 * backends, press Run, and watch the results table fill as the tab measures; a hardware
 * panel shows CPU, CUDA, the tab's WebGPU adapter and WebNN devices side by side.
 *
 * State (synced with Python): `kernels` ({name: {params: {k: default}, presets: [..]}}),
 * `kernel`, `preset`, `params` (JSON text of pinned parameters), `backends` (selected),
 * `backend_choices`, `hardware` ([{title, lines: [..], ok}]), `rows` (table rows),
 * `columns`, `status`, `running`. The Run button sends {kind: "run"} to Python, which runs
 * the sweep in the tab (TabRunner) and updates `rows`/`status` as results arrive.
 */

/**
 * @typedef {{ kind: "run" }} ExplorerRun  the Run button (ExplorerRun in tab/_protocols.py)
 * @typedef {{ get(name: string): any, set(name: string, value: any): void,
 *   save_changes(): void, send(content: ExplorerRun): void,
 *   on(event: string, cb: Function): void, off(event: string, cb?: Function): void }} Model
 */

const CSS = `
.accel-explorer { font: 12px/1.4 var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, #222); }
.accel-explorer .row { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin: 4px 0; }
.accel-explorer select, .accel-explorer input[type=text] { font: inherit; padding: 2px 4px; }
.accel-explorer input[type=text] { width: 260px; font-family: var(--jp-code-font-family, monospace); }
.accel-explorer button { font: inherit; padding: 3px 14px; cursor: pointer; }
.accel-explorer .hw { display: grid; grid-template-columns: repeat(4, minmax(150px, 1fr)); gap: 6px; margin: 6px 0; }
.accel-explorer .hw div.card { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px; padding: 4px 6px; }
.accel-explorer .hw div.card.off { opacity: 0.6; }
.accel-explorer .hw b { display: block; }
.accel-explorer .table { overflow-x: auto; max-width: 100%; }
.accel-explorer table { border-collapse: collapse; margin-top: 4px; }
.accel-explorer th, .accel-explorer td { border-bottom: 1px solid var(--jp-border-color2, #ddd); padding: 2px 8px; text-align: left; }
.accel-explorer td.num { text-align: right; font-variant-numeric: tabular-nums; }
.accel-explorer .bad { color: #cf222e; }
.accel-explorer .status { color: var(--jp-ui-font-color2, #555); }
`;

/** @param {string} tag @param {Record<string, any>} [props] @param {(Node|string)[]} [children] */
function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else /** @type {any} */ (el)[k] = v;
  }
  for (const c of children) el.append(c);
  return el;
}

/** @param {any} v */
function fmt(v) {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return "";
    if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(3);
    return String(Math.round(v * 1e4) / 1e4);
  }
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

export default {
  /** @param {{ model: Model, el: HTMLElement }} ctx */
  render({ model, el }) {
    const root = h("div", { class: "accel-explorer" });
    root.append(h("style", { textContent: CSS }));
    el.append(root);

    const kernelSel = /** @type {HTMLSelectElement} */ (h("select", {
      onchange: () => { model.set("kernel", kernelSel.value); model.save_changes(); } }));
    const presetSel = /** @type {HTMLSelectElement} */ (h("select", {
      onchange: () => { model.set("preset", presetSel.value); model.save_changes(); } }));
    const paramsBox = /** @type {HTMLInputElement} */ (h("input", { type: "text", placeholder: '{"M": 64} pins parameters',
      onchange: () => { model.set("params", paramsBox.value); model.save_changes(); } }));
    const backendsBox = h("span");
    const runBtn = /** @type {HTMLButtonElement} */ (h("button", { textContent: "Run",
      onclick: () => model.send({ kind: "run" }) }));
    const status = h("div", { class: "status" });
    const hw = h("div", { class: "hw" });
    const table = h("table");
    root.append(
      h("div", { class: "row" }, ["kernel ", kernelSel, "preset ", presetSel, "params ", paramsBox]),
      h("div", { class: "row" }, ["backends ", backendsBox, runBtn]),
      status, hw, h("div", { class: "table" }, [table]),
    );

    const drawControls = () => {
      const kernels = model.get("kernels") || {};
      const k = model.get("kernel");
      kernelSel.replaceChildren(...Object.keys(kernels).map((n) => h("option", { value: n, textContent: n, selected: n === k })));
      const presets = kernels[k]?.presets || [];
      const p = model.get("preset");
      presetSel.replaceChildren(...presets.map((/** @type {string} */ n) => h("option", { value: n, textContent: n, selected: n === p })));
      paramsBox.value = model.get("params") || "";
      const defaults = kernels[k]?.params || {};
      paramsBox.title = "parameters of " + k + ": " + JSON.stringify(defaults);
      const chosen = new Set(model.get("backends") || []);
      backendsBox.replaceChildren(...(model.get("backend_choices") || []).map((/** @type {string} */ b) => {
        const cb = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", checked: chosen.has(b),
          onchange: () => {
            const now = new Set(model.get("backends") || []);
            if (cb.checked) now.add(b); else now.delete(b);
            model.set("backends", [...now]); model.save_changes();
          } }));
        return h("label", {}, [cb, " " + b + " "]);
      }));
      runBtn.disabled = Boolean(model.get("running"));
      runBtn.textContent = model.get("running") ? "Running…" : "Run";
    };
    const drawStatus = () => { status.textContent = model.get("status") || ""; };
    const drawHardware = () => {
      hw.replaceChildren(...(model.get("hardware") || []).map((/** @type {any} */ c) =>
        h("div", { class: "card" + (c.ok ? "" : " off") }, [h("b", { textContent: c.title }),
          ...c.lines.map((/** @type {string} */ l) => h("div", { textContent: l }))])));
    };
    const drawRows = () => {
      const cols = model.get("columns") || [];
      const rows = model.get("rows") || [];
      table.replaceChildren(
        h("thead", {}, [h("tr", {}, cols.map((/** @type {string} */ c) => h("th", { textContent: c })))]),
        h("tbody", {}, rows.map((/** @type {any} */ r) => h("tr", {}, cols.map((/** @type {string} */ c) =>
          h("td", { textContent: fmt(r[c]),
                    class: (typeof r[c] === "number" ? "num" : "") + (c === "status" && r[c] !== "ok" ? " bad" : "") }))))),
      );
    };
    const all = () => { drawControls(); drawStatus(); drawHardware(); drawRows(); };
    all();
    const events = ["kernels", "kernel", "preset", "params", "backends", "backend_choices", "running"];
    for (const e of events) model.on(`change:${e}`, drawControls);
    model.on("change:status", drawStatus);
    model.on("change:hardware", drawHardware);
    model.on("change:rows", drawRows);
    return () => {
      for (const e of events) model.off(`change:${e}`, drawControls);
      model.off("change:status", drawStatus);
      model.off("change:hardware", drawHardware);
      model.off("change:rows", drawRows);
    };
  },
};
