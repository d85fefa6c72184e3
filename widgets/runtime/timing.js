// @ts-check
/**
 * The timing loop of accel_toolkit, in the browser. It is the same algorithm as
 * accel_toolkit/harness/_timing.py (time_callable) driven by the same TimingSettings:
 * first run timed alone, warm-up by time, calibrated inner loop, adaptive stop on noise
 * within [min_time, max_time]. Raw samples go back to Python, which computes the statistics.
 */

/**
 * @typedef {Object} TimingSettings
 * @property {number} warmup_time
 * @property {number} target_sample_time
 * @property {number} min_time
 * @property {number} max_time
 * @property {number} min_samples
 * @property {number} max_samples
 * @property {number} noise_target
 */

/**
 * @typedef {Object} TimingResult
 * @property {number[]} samples       seconds per call, one per sample
 * @property {number} inner_loops     calls per sample
 * @property {number} first_run_s     the first call on its own
 * @property {number} warmup_s        seconds spent warming up
 */

/** @param {number[]} x */
function relIqr(x) {
  if (x.length < 4) return Infinity;
  const s = [...x].sort((a, b) => a - b);
  const q = (/** @type {number} */ p) => {
    const i = (s.length - 1) * p, lo = Math.floor(i), hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  const med = q(0.5);
  return med > 0 ? (q(0.75) - q(0.25)) / med : Infinity;
}

const now = () => performance.now() / 1000;

/**
 * Time `batch(n)`, which runs the kernel n times and resolves to the seconds those n calls
 * took on the device (by timestamp queries or by wall time around onSubmittedWorkDone).
 * @param {(n: number) => Promise<number>} batch
 * @param {TimingSettings} s
 * @param {{deadline?: number}} [opts] absolute time (seconds, performance.now()/1000) to stop by
 * @returns {Promise<TimingResult>}
 */
export async function timeLoop(batch, s, opts = {}) {
  const deadline = opts.deadline ?? Infinity;
  const first = await batch(1);
  const start = now();
  const w0 = now();
  do { await batch(1); } while (now() - w0 < s.warmup_time && now() < deadline);
  const warmup = now() - w0;

  let n = 1;
  let perCall = first;
  for (;;) {
    const t = await batch(n);
    perCall = t / n;
    if (t >= s.target_sample_time || now() - start >= s.max_time / 2 || now() >= deadline) break;
    const grow = (s.target_sample_time / Math.max(t, 1e-9)) * 1.2;
    n = Math.max(n + 1, Math.min(n * 10, Math.ceil(n * grow)));
  }

  /** @type {number[]} */
  const samples = [];
  const t0 = now();
  const fastest = Math.min(first, perCall);
  const floor = fastest * n * 3 <= s.max_time ? 3 : 1;
  for (;;) {
    samples.push((await batch(n)) / n);
    const elapsed = now() - t0;
    if (samples.length >= s.max_samples) break;
    if (now() >= deadline && samples.length >= 1) break;
    if (elapsed >= s.max_time && samples.length >= floor) break;
    if (elapsed >= s.min_time && samples.length >= s.min_samples && relIqr(samples) < s.noise_target) break;
  }
  return { samples, inner_loops: n, first_run_s: first, warmup_s: warmup };
}
