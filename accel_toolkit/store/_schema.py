"""The versioned schema of the results database.

Tables
------
meta          key/value; ``schema_version`` lives here.
environments  one row per environment fingerprint (machine + software stack).
runs          one row per sweep / notebook run: tag, git commit, notebook and its parameters.
measurements  one row per configuration x backend measured (or failed) in a run.
samples       the raw steady-state samples (seconds per call) of every measurement.
regressions   change points found in the history of a configuration.
op_breakdown  per-op seconds of one timed model forward, linked to its measurement.
tuning        every point the WGSL autotuner tried (``accel_toolkit.tuning``): adapter
              fingerprint, shape bucket, knobs, time and status; ``chosen`` marks a winner.

View ``results`` (documented, stable): the columns a user queries, one row per measurement::

    run_id, created_at, kernel, params (JSON), dtype, backend, venue, device,
    median_s, ci_low_s, ci_high_s, iqr_s, n_samples, gflops, gbps, max_abs_err,
    status, error, ... plus tag, git_commit, notebook, config_key, first_run_s, timer,
    round (a multi-round run's round number), rounds and round_spread (how many rounds of the
    run measured this configuration, and the robust relative spread of their medians,
    1.4826 x MAD / median, an estimate of one round's standard deviation that neither grows
    with the rounds nor follows one burst: how well the figure reproduces, next to the
    within-round CI), steal_fraction (CPU time stolen by the hypervisor while it was sampled;
    NULL when unknown).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

TABLES = [
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS environments (
        env_id VARCHAR PRIMARY KEY,
        created_at TIMESTAMPTZ,
        hostname VARCHAR,
        cpu_model VARCHAR,
        cores INTEGER,
        memory_bytes BIGINT,
        os VARCHAR,
        python VARCHAR,
        toolkit_version VARCHAR,
        git_commit VARCHAR,
        fingerprint JSON
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY,
        created_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        status VARCHAR,            -- running | complete | interrupted | failed
        tag VARCHAR,
        env_id VARCHAR,
        git_commit VARCHAR,
        command VARCHAR,
        notebook VARCHAR,
        notebook_params JSON,
        notebook_output VARCHAR,
        settings JSON,
        seed BIGINT,
        planned INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS measurements (
        result_id VARCHAR PRIMARY KEY,
        run_id VARCHAR,
        created_at TIMESTAMPTZ,
        kernel VARCHAR,
        family VARCHAR,
        params JSON,
        config_key VARCHAR,
        dtype VARCHAR,
        seed BIGINT,
        backend VARCHAR,
        venue VARCHAR,
        device VARCHAR,
        device_info JSON,
        timer VARCHAR,
        median_s DOUBLE,
        ci_low_s DOUBLE,
        ci_high_s DOUBLE,
        ci_level DOUBLE,
        iqr_s DOUBLE,
        mean_s DOUBLE,
        std_s DOUBLE,
        min_s DOUBLE,
        max_s DOUBLE,
        n_samples INTEGER,
        inner_loops BIGINT,
        first_run_s DOUBLE,
        warmup_s DOUBLE,
        flops DOUBLE,
        bytes DOUBLE,
        max_abs_err DOUBLE,
        max_rel_err DOUBLE,
        atol DOUBLE,
        rtol DOUBLE,
        status VARCHAR,            -- ok | mismatch | error | unsupported
        error VARCHAR,
        env_id VARCHAR,
        extra JSON
    )""",
    """CREATE TABLE IF NOT EXISTS samples (
        result_id VARCHAR,
        idx INTEGER,
        seconds DOUBLE,
        PRIMARY KEY (result_id, idx)
    )""",
    """CREATE TABLE IF NOT EXISTS regressions (
        regression_id VARCHAR PRIMARY KEY,
        detected_at TIMESTAMPTZ,
        series_key VARCHAR,
        kernel VARCHAR,
        params JSON,
        dtype VARCHAR,
        backend VARCHAR,
        venue VARCHAR,
        device VARCHAR,
        kind VARCHAR,              -- regression | improvement
        start_run_id VARCHAR,
        start_time TIMESTAMPTZ,
        before_run_id VARCHAR,
        after_run_id VARCHAR,
        before_s DOUBLE,
        after_s DOUBLE,
        ratio DOUBLE,
        ratio_ci_low DOUBLE,
        ratio_ci_high DOUBLE,
        extra JSON
    )""",
    """CREATE TABLE IF NOT EXISTS op_breakdown (
        result_id VARCHAR,         -- the model measurement (kernel 'model:<name>') it splits
        op VARCHAR,                -- front | linear | attention | add | layernorm | ...
        calls INTEGER,             -- dispatches or calls of that op in one forward
        seconds DOUBLE,            -- their summed time in one timed forward
        share DOUBLE,              -- seconds / the forward's total over all ops
        timer VARCHAR,             -- how the ops were timed
        PRIMARY KEY (result_id, op)
    )""",
    """CREATE TABLE IF NOT EXISTS tuning (
        tuning_id VARCHAR PRIMARY KEY,
        created_at TIMESTAMPTZ,
        session_id VARCHAR,        -- one `tune` call
        kernel VARCHAR,
        variant VARCHAR,           -- the tunable variant (matmul: gemm)
        backend VARCHAR,           -- wgpu | webgpu
        fingerprint VARCHAR,       -- hash of adapter (accel_toolkit.tuning.fingerprint)
        adapter JSON,              -- the fingerprint's fields
        bucket VARCHAR,            -- shape bucket (small | medium | large)
        params JSON,               -- the shape the point was timed (or checked) at
        dtype VARCHAR,
        knobs JSON,
        knobs_key VARCHAR,
        rung INTEGER,              -- search round (0 = first screening)
        status VARCHAR,            -- ok | limits | compile_error | wrong_result | error
                                   -- | invalidated
        chosen BOOLEAN,            -- the best point of its bucket in its session
        median_s DOUBLE,
        n_samples INTEGER,
        max_abs_err DOUBLE,
        error VARCHAR,
        extra JSON
    )""",
]

RESULTS_VIEW = """
CREATE OR REPLACE VIEW results AS
SELECT
    m.run_id, m.created_at, m.kernel, m.params, m.dtype, m.backend, m.venue, m.device,
    m.median_s, m.ci_low_s, m.ci_high_s, m.iqr_s, m.n_samples,
    CASE WHEN m.median_s > 0 THEN m.flops / m.median_s / 1e9 END AS gflops,
    CASE WHEN m.median_s > 0 THEN m.bytes / m.median_s / 1e9 END AS gbps,
    m.max_abs_err, m.status, m.error,
    m.result_id, m.config_key, m.family, m.seed, m.timer, m.first_run_s, m.warmup_s,
    m.inner_loops, m.ci_level, m.mean_s, m.std_s, m.min_s, m.max_s, m.flops, m.bytes,
    m.max_rel_err,
    m.atol, m.rtol, m.device_info, m.env_id,
    r.tag, r.git_commit, r.notebook, r.notebook_params, r.notebook_output,
    CAST(json_extract(m.extra, '$.round') AS INTEGER) AS round,
    count(m.median_s) OVER rounds_w AS rounds,
    CASE WHEN count(m.median_s) OVER rounds_w > 1 THEN
        1.4826 * mad(m.median_s) OVER rounds_w / median(m.median_s) OVER rounds_w
        END AS round_spread,
    CAST(json_extract(m.extra, '$.timing.steal.fraction') AS DOUBLE) AS steal_fraction
FROM measurements m LEFT JOIN runs r USING (run_id)
WINDOW rounds_w AS (PARTITION BY m.run_id, m.config_key, m.backend, m.venue, m.device, m.status)
"""

#: primary keys used to merge imported Parquet files without duplicates
KEYS = {
    "environments": ("env_id",),
    "runs": ("run_id",),
    "measurements": ("result_id",),
    "samples": ("result_id", "idx"),
    "regressions": ("regression_id",),
    "op_breakdown": ("result_id", "op"),
    "tuning": ("tuning_id",),
}
