"""The speed predictor on generated data with a known latency law, plus its error paths.

The generated latencies follow ``t = a*flops + b*bytes + c`` times log-normal noise; these
are test inputs with a known answer, never reported as measurements.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")

from accel_toolkit.exceptions import ConfigError, NotFittedError, PredictionError  # noqa: E402
from accel_toolkit.kernels import get_kernel  # noqa: E402
from accel_toolkit.predict import (  # noqa: E402
    OPENBLAS_SMALL_GEMM,
    ConformalBoostingRegressor,
    ReplayResult,
    SpeedModel,
    cache_sizes,
    evaluate,
    featurize,
    gemm_paths,
    log_uniform_grid,
    numpy_loops,
    prediction_metrics,
    replay_active_learning,
    suggest,
)
from accel_toolkit.predict._features import config_frame  # noqa: E402

A, B, C = 1.0 / 50e9, 1.0 / 8e9, 4e-6  # 50 GFLOP/s, 8 GB/s, 4 us per call
FAST = {"n_estimators": 50, "n_folds": 4}


def law(kernel: str, params: dict, itemsize: int = 4) -> float:
    cost = get_kernel(kernel).cost(params, itemsize)
    return A * cost.flops + B * cost.bytes + C


def synthetic(
    kernel: str = "matmul",
    n: int = 80,
    *,
    seed: int = 0,
    sigma: float = 0.04,
    backend: str = "cpu",
    scale: float = 1.0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 17)
    rows = []
    for p in log_uniform_grid(kernel, n, seed=seed):
        cost = get_kernel(kernel).cost(p, 4)
        t = scale * law(kernel, p) * math.exp(rng.normal(0.0, sigma))
        rows.append(
            {
                "kernel": kernel,
                "params": p,
                "dtype": "float32",
                "backend": backend,
                "venue": "process",
                "device": "test-cpu",
                "flops": cost.flops,
                "bytes": cost.bytes,
                "median_s": t,
                "status": "ok",
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def matmul_model() -> SpeedModel:
    return SpeedModel(**FAST).fit(synthetic("matmul", 80, seed=0))


def test_recovers_known_law_and_intervals_are_calibrated(matmul_model):
    test = synthetic("matmul", 200, seed=1, sigma=0.04)
    p = matmul_model.predict(test)
    truth = np.array([law("matmul", q) for q in test["params"]])
    # point predictions track the noiseless law
    assert np.median(np.abs(p["pred_s"] / truth - 1)) < 0.05
    m = prediction_metrics(test["median_s"], p["pred_s"], p["low_s"], p["high_s"])
    assert m["within_10pct"] >= 0.85
    assert m["spearman"] > 0.98
    assert 0.65 <= m["coverage"] <= 0.95, m
    # the roofline part of the model finds the law's coefficients
    c0, c1, c2, packed, loop, rows, elements = matmul_model.baselines_[("matmul", "cpu")]
    assert packed == loop == 0.0  # no K == 1 shape, no device_info naming OpenBLAS
    assert rows == elements == 0.0  # matmul reduces no rows, has no elementwise scores
    assert c0 == pytest.approx(C, rel=0.3)
    assert c1 == pytest.approx(A, rel=0.3)
    assert c2 == pytest.approx(B, rel=0.5)
    assert (p["low_s"] <= p["pred_s"]).all() and (p["pred_s"] <= p["high_s"]).all()
    assert np.allclose(p["pred_gflops"], p["flops"] / p["pred_s"] / 1e9)


def test_extrapolates_to_larger_shapes():
    data = synthetic("matmul", 150, seed=2, sigma=0.03)
    cut = data["flops"].quantile(0.8)
    model = SpeedModel(**FAST).fit(data[data["flops"] <= cut])
    big = data[data["flops"] > cut]
    p = model.predict(big)
    assert np.mean(np.abs(p["pred_s"].to_numpy() / big["median_s"].to_numpy() - 1) <= 0.10) >= 0.8


def test_predict_one_and_from_plain_dicts(matmul_model):
    one = matmul_model.predict_one("matmul", "cpu", M=200, N=300, K=100)
    assert one["low_s"] <= one["pred_s"] <= one["high_s"]
    assert one["pred_s"] == pytest.approx(law("matmul", {"M": 200, "N": 300, "K": 100}), rel=0.15)


def test_not_fitted_errors():
    with pytest.raises(NotFittedError, match="fit"):
        SpeedModel().predict([{"kernel": "matmul", "backend": "cpu", "params": {}}])
    with pytest.raises(NotFittedError):
        ConformalBoostingRegressor().predict(np.zeros((2, 2)))
    assert issubclass(NotFittedError, (ValueError, AttributeError))


def test_empty_store_says_what_to_run(tmp_path):
    from accel_toolkit.store import Store

    store = Store(tmp_path / "empty.duckdb")
    with pytest.raises(PredictionError, match="predict_eval.py measure|accel-toolkit bench"):
        SpeedModel.from_store(store)
    with pytest.raises(PredictionError):
        SpeedModel().fit(pd.DataFrame())


def test_kernel_with_two_points_is_rejected():
    data = pd.concat([synthetic("matmul", 30), synthetic("softmax", 2, seed=3)])
    with pytest.raises(PredictionError, match=r"softmax: 2"):
        SpeedModel(**FAST).fit(data)


def test_unknown_backend_or_kernel_at_predict_time(matmul_model):
    with pytest.raises(PredictionError, match="not trained on backend 'webgpu'.*cpu"):
        matmul_model.predict(
            [{"kernel": "matmul", "backend": "webgpu", "params": {"M": 8, "N": 8, "K": 8}}]
        )
    with pytest.raises(PredictionError, match="softmax"):
        matmul_model.predict([{"kernel": "softmax", "backend": "cpu", "params": {}}])
    with pytest.raises(ConfigError):
        matmul_model.predict([{"kernel": "matmul", "backend": "cpu", "params": {"Q": 3}}])


def test_save_load_round_trip(matmul_model, tmp_path):
    path = matmul_model.save(tmp_path / "model.json")
    blob = json.loads(path.read_text())
    assert blob["format"] == "accel_toolkit.SpeedModel" and len(blob["training"]) == 80
    loaded = SpeedModel.load(path)
    cfg = synthetic("matmul", 10, seed=9)
    a, b = matmul_model.predict(cfg), loaded.predict(cfg)
    np.testing.assert_allclose(a[["pred_s", "low_s", "high_s"]], b[["pred_s", "low_s", "high_s"]])
    (tmp_path / "bad.json").write_text('{"hello": 1}')
    with pytest.raises(PredictionError, match="not a SpeedModel"):
        SpeedModel.load(tmp_path / "bad.json")
    # a file from before alignment_features / noise_floor / scratch / gemm_paths /
    # numpy_loops existed refits as it was fitted
    old = SpeedModel(
        **FAST,
        alignment_features=True,
        noise_floor=None,
        scratch=False,
        gemm_paths=False,
        numpy_loops=False,
    )
    data = synthetic("softmax", 25, seed=3)
    data["median_s"] += 30e-9 * 2 * data["params"].map(lambda p: p["rows"])  # a row's cost
    old.fit(data)
    blob = old.to_dict()
    for name in ("alignment_features", "noise_floor", "scratch", "gemm_paths", "numpy_loops"):
        del blob["params"][name]
    (tmp_path / "old.json").write_text(json.dumps(blob, default=str))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # it predicts exactly what was saved: no warning
        again = SpeedModel.load(tmp_path / "old.json")
    assert again.alignment_features is True and again.noise_floor is None
    assert again.scratch is False and again.gemm_paths is False and again.numpy_loops is False
    rows = [{"kernel": "softmax", "backend": "cpu", "params": {"rows": 900, "cols": 9}}]
    np.testing.assert_allclose(again.predict(rows)["pred_s"], old.predict(rows)["pred_s"])


def test_few_shot_backend_borrows_the_pooled_baseline():
    cpu = synthetic("matmul", 60, seed=4)
    other = synthetic("matmul", 60, seed=5, backend="webgpu", scale=3.0)
    model = SpeedModel(**FAST).fit(pd.concat([cpu, other.head(6)]))
    p = model.predict(other.iloc[6:])
    assert np.median(np.abs(p["pred_s"] / other.iloc[6:]["median_s"].to_numpy() - 1)) < 0.15


def test_evaluate_reports_every_split_on_generated_data():
    data = pd.concat([synthetic("matmul", 60, seed=6), synthetic("softmax", 60, seed=7)])
    table = evaluate(results=data, model_params=FAST, repeats=1)
    assert set(table["split"]) == {"interpolation", "extrapolation"}
    assert set(table["kernel"]) == {"all", "matmul", "softmax"}
    interp = table[(table["split"] == "interpolation") & (table["kernel"] == "all")].iloc[0]
    assert interp["within_10pct"] >= 0.8 and interp["spearman"] > 0.95


def test_suggest_picks_distinct_uncertain_candidates(matmul_model):
    cands = log_uniform_grid("matmul", 60, seed=11)
    picks = suggest(matmul_model, cands, k=5, kernel="matmul", backend="cpu")
    assert len(picks) == 5 and picks["rank"].tolist() == [1, 2, 3, 4, 5]
    assert len({json.dumps(p, sort_keys=True) for p in picks["params"]}) == 5
    assert picks["variance_reduction"].gt(0).all()  # the GP's default: variance reduction
    picks = suggest(
        matmul_model, cands, k=5, kernel="matmul", backend="cpu", strategy="uncertainty-diversity"
    )
    assert (picks["distance"] > 0).all()  # none sits on a measured point or an earlier pick
    # the first pick is the most uncertain candidate that is not on top of the data
    assert picks["uncertainty"].iloc[0] >= np.median(
        np.log(
            matmul_model.predict(
                pd.DataFrame({"kernel": "matmul", "backend": "cpu", "params": cands})
            ).eval("high_s / low_s")
        )
    )
    trained = matmul_model.training_["params"].tolist()
    with pytest.raises(PredictionError, match="measured already"):
        suggest(matmul_model, trained, k=2, kernel="matmul")


def test_replay_active_learning_runs_both_strategies():
    data = synthetic("softmax", 60, seed=12, sigma=0.05)
    res = replay_active_learning(
        results=data,
        kernel="softmax",
        backend="cpu",
        budget=14,
        init=6,
        step=4,
        seeds=1,
        model_params={"n_estimators": 40},
    )
    s = res.summary()
    assert set(s["strategy"]) == {"variance-reduction", "random"}  # "auto" for the GP model
    rnd = s.set_index("strategy").loc["random"]
    assert rnd["share_of_random"] == 1.0 and rnd["n_to_within"] <= 14
    assert rnd["share_of_budget"] == rnd["n_to_target"] / 14
    assert (res.curves.groupby("strategy")["n"].max() == 14).all()
    assert res.chart().to_dict()["mark"]["type"] == "line"


def test_replay_split_partitions_the_pool_as_the_replay_does():
    from accel_toolkit.predict import replay_split

    test, pool, _ = replay_split(60, 3, 0.3)
    assert len(test) == 18 and sorted(np.r_[test, pool].tolist()) == list(range(60))
    again, _, _ = replay_split(60, 3, 0.3)
    other, _, _ = replay_split(60, 4, 0.3)
    assert again.tolist() == test.tolist() and other.tolist() != test.tolist()
    # the replay scores each seed on exactly that split's configurations
    data = synthetic("softmax", 40, seed=12, sigma=0.05)
    res = replay_active_learning(
        results=data,
        kernel="softmax",
        backend="cpu",
        budget=8,
        init=6,
        step=2,
        seeds=1,
        strategies=["random"],
        test_fraction=0.25,
    )
    assert (res.curves["n_test"] == len(replay_split(40, 0, 0.25)[0])).all()
    assert res.pool_size == len(replay_split(40, 0, 0.25)[1])


def test_replay_family_holds_out_the_shapes_nearest_to_one():
    from accel_toolkit.predict import replay_split

    space = np.random.default_rng(0).normal(size=(50, 3))
    test, pool, _ = replay_split(50, 2, family=12, space=space)
    assert len(test) == 12 and sorted(np.r_[test, pool].tolist()) == list(range(50))
    # some shape (the anchor) is nearer to every held-out shape than to any pool shape
    d = np.sqrt(((space[:, None, :] - space[None, :, :]) ** 2).sum(-1))
    anchors = [a for a in range(50) if d[a, test].max() <= d[a, pool].min()]
    assert anchors and set(anchors) <= set(test.tolist())
    assert replay_split(50, 3, family=12, space=space)[0].tolist() != test.tolist()
    with pytest.raises(ConfigError, match="space"):
        replay_split(50, 2, family=12)
    with pytest.raises(ConfigError, match="family"):
        replay_split(50, 2, family=50, space=space)
    # the replay holds out that family, in the standardised log sizes of the merged shapes
    data = synthetic("softmax", 40, seed=12, sigma=0.05)
    res = replay_active_learning(
        results=data,
        kernel="softmax",
        backend="cpu",
        budget=8,
        init=6,
        step=2,
        seeds=2,
        strategies=["random"],
        family=10,
    )
    assert (res.curves["n_test"] == 10).all() and res.pool_size == 30


def test_replay_summary_bands_cover_the_seeds_spread():
    """The bootstrap bands of the shares: the point figure lies inside them, they widen when
    one seed disagrees, and a seed-free comparison (all seeds alike) has no width."""
    ns = np.arange(5, 41, 5)

    def curves(active_mape):
        rows = []
        for seed, a in enumerate(active_mape):
            for n in ns:
                rows.append(
                    {
                        "strategy": "random",
                        "seed": seed,
                        "n": n,
                        "mape": 0.2 * 20 / n,
                        "within_10pct": n / 40,
                        "coverage": 0.8,
                        "spearman": 1.0,
                    }
                )
                rows.append(
                    {
                        "strategy": "variance-reduction",
                        "seed": seed,
                        "n": n,
                        "mape": a * 20 / n,
                        "within_10pct": min(1.0, 2 * n / 40),
                        "coverage": 0.8,
                        "spearman": 1.0,
                    }
                )
        return ReplayResult("matmul", "cpu", pd.DataFrame(rows), 40, 100, 40)

    same = curves([0.1] * 8).summary().set_index("strategy").loc["variance-reduction"]
    assert same["n_to_target"] == 20 and same["share_of_random"] == 0.5  # random: at 40
    assert same["share_of_random_low"] == same["share_of_random_high"] == 0.5
    assert same["share_of_budget_within"] == 0.5
    assert same["final_mape_ratio"] == pytest.approx(0.5)  # 0.1 * 20 / 40 against 0.1
    mixed = curves([0.1] * 7 + [0.6]).summary(n_boot=500).set_index("strategy")
    vr = mixed.loc["variance-reduction"]
    assert vr["share_of_random_low"] <= vr["share_of_random"] <= vr["share_of_random_high"]
    assert vr["share_of_random_high"] > vr["share_of_random_low"]
    with pytest.raises(ConfigError, match="ci"):
        curves([0.1] * 2).summary(ci=1.5)


def test_scratch_bytes_let_the_roofline_see_im2col_traffic():
    """conv2d's time follows the bytes its im2col matrix moves (``KernelSpec.scratch``),
    which the cost model's bytes cannot tell apart: with ``scratch`` the baseline finds the
    law from 30 shapes; without, 1x1 and 5x5 convolutions of one input size look alike."""
    spec = get_kernel("conv2d")

    def data(n, seed):
        rng = np.random.default_rng(seed)
        rows = []
        for p in log_uniform_grid("conv2d", n, seed=seed):
            c = spec.cost(p, 4)
            t = (C + A * c.flops + B * (c.bytes + spec.scratch(p, 4))) * math.exp(
                rng.normal(0.0, 0.02)
            )
            rows.append({"kernel": "conv2d", "params": p, "backend": "cpu", "median_s": t})
        return pd.DataFrame(rows)

    train, test = data(30, 0), data(80, 1)
    X = featurize(test)
    assert X["log_bytes"].gt(featurize(test, scratch=False)["log_bytes"]).all()
    errors = {}
    for scratch in (True, False):
        p = SpeedModel(scratch=scratch, **FAST).fit(train).predict(test)
        errors[scratch] = prediction_metrics(
            test["median_s"], p["pred_s"], p["low_s"], p["high_s"]
        )["mape"]
    assert errors[True] < 0.05
    assert errors[False] > 2 * errors[True]


def test_gemm_paths_follow_openblas_and_numpy():
    info = {"blas": "openblas 0.3.31 (1 threads)"}

    def row(kernel, params, **kw):
        return {"kernel": kernel, "params": params, "backend": "cpu", "device_info": info, **kw}

    frame = config_frame(
        [
            row("matmul", {"M": 100, "N": 100, "K": 100}),  # M*N*K == 100**3: small kernel
            row("matmul", {"M": 101, "N": 100, "K": 100}),
            row("batched_matmul", {"B": 3, "M": 12, "N": 308, "K": 271}),
            row("linear_gelu", {"M": 256, "N": 128, "K": 64}, dtype="float64"),
            row("matmul", {"M": 256, "N": 256, "K": 256}, dtype="float16"),  # numpy's own loop
            row("matmul", {"M": 256, "N": 256, "K": 1}),  # an outer product: numpy's own loop
            row(
                "conv2d",
                {"N": 2, "C": 1, "H": 30, "W": 30, "F": 19, "kernel": 1, "stride": 2, "padding": 0},
            ),  # K = C*k*k = 1
            row(
                "conv2d",
                {
                    "N": 2,
                    "C": 32,
                    "H": 32,
                    "W": 32,
                    "F": 32,
                    "kernel": 3,
                    "stride": 1,
                    "padding": 1,
                },
            ),  # 32x1024x288 per image
            row("matmul", {"M": 256, "N": 256, "K": 256}, backend="webgpu"),
            row("matmul", {"M": 256, "N": 256, "K": 256}, device_info={"blas": "mkl 2024"}),
            row("attention", {"seq": 256, "head_dim": 64}),  # declares no gemm
        ]
    )
    paths = gemm_paths(frame)
    assert paths["packed_bytes"].tolist() == [
        0,
        (101 * 100 + 100 * 100) * 4,
        3 * (12 * 271 + 271 * 308) * 4,
        (256 * 64 + 64 * 128) * 8,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]  # conv2d's operand is its scratch
    assert paths["loop_flops"].tolist() == [
        0,
        0,
        0,
        0,
        2 * 256**3,
        2 * 256 * 256,
        2 * 2 * 19 * 15 * 15,
        0,
        0,
        0,
        0,
    ]
    assert OPENBLAS_SMALL_GEMM == 100**3


def _with_and_without(
    term: str, train: pd.DataFrame, test: pd.DataFrame, *, coef: tuple[int, float]
) -> dict[bool, float]:
    """Held-out MAPE of models fitted with and without the roofline term ``term`` (a
    SpeedModel flag); the one with it must find the law's coefficient ``coef`` (its
    position in ``baselines_``, its value)."""
    (kernel,) = set(train["kernel"])
    errors = {}
    for on in (True, False):
        model = SpeedModel(**{term: on}, **FAST).fit(train)
        p = model.predict(test)
        errors[on] = prediction_metrics(test["median_s"], p["pred_s"])["mape"]
        if on:
            assert model.baselines_[(kernel, "cpu")][coef[0]] == pytest.approx(coef[1], rel=0.3)
    return errors


def test_gemm_paths_lets_the_roofline_step_at_the_small_matrix_limit():
    """A matmul law that copies its operands at 20 GB/s past the small-matrix limit (as
    OpenBLAS does on real machines): the roofline's packed-bytes term finds that cost from
    40 shapes; without it, a smooth model misses the shapes next to the limit."""
    pack = 1 / 20e9
    info = {"blas": "openblas 0.3.31"}

    def data(n, seed):
        rng = np.random.default_rng(seed)
        rows = []
        for p in log_uniform_grid("matmul", n, seed=seed, max_flops=2e7):
            c = get_kernel("matmul").cost(p, 4)
            m, nn, k = p["M"], p["N"], p["K"]
            packed = (m * k + k * nn) * 4 if m * nn * k > OPENBLAS_SMALL_GEMM else 0
            t = (C + A * c.flops + B * c.bytes + pack * packed) * math.exp(rng.normal(0, 0.02))
            rows.append(
                {
                    "kernel": "matmul",
                    "params": p,
                    "backend": "cpu",
                    "median_s": t,
                    "device": "test-cpu",
                    "device_info": info,
                }
            )
        return pd.DataFrame(rows)

    train, test = data(40, 0), data(120, 1)
    packed = gemm_paths(config_frame(test))["packed_bytes"] > 0
    assert 0.2 < packed.mean() < 0.8  # both sides of the limit are tested
    errors = _with_and_without("gemm_paths", train, test, coef=(3, pack))
    assert errors[True] < 0.04
    assert errors[False] > 1.5 * errors[True]


def test_a_larger_feature_set_must_win_by_more_than_chance():
    from accel_toolkit.predict._model import _clearly_better

    kept = np.full(20, 0.05)  # out-of-fold absolute errors of the smaller column set
    by_chance = kept + np.r_[np.full(10, -0.03), np.full(10, 0.028)]  # lower on average
    assert by_chance.mean() < kept.mean() and not _clearly_better(by_chance, kept)
    assert _clearly_better(kept - 0.01 + np.linspace(-1e-3, 1e-3, 20), kept)
    assert not _clearly_better(kept[:1] - 0.01, kept[:1])  # one row says nothing


def test_numpy_loops_count_reduced_rows_and_scores():
    frame = config_frame(
        [
            {"kernel": "softmax", "params": {"rows": 1143, "cols": 8}, "backend": "cpu"},
            {"kernel": "layernorm", "params": {"rows": 7, "cols": 130}, "backend": "cpu"},
            {
                "kernel": "attention",
                "backend": "cpu",
                "params": {"batch": 2, "heads": 3, "seq": 50, "head_dim": 16},
            },
            {"kernel": "reduce", "params": {"rows": 9, "cols": 33, "axis": 0}, "backend": "cpu"},
            {"kernel": "matmul", "params": {"M": 64, "N": 64, "K": 64}, "backend": "cpu"},
            {"kernel": "softmax", "params": {"rows": 1143, "cols": 8}, "backend": "webgpu"},
        ]
    )
    loops = numpy_loops(frame)
    assert loops["row_reductions"].tolist() == [2 * 1143, 2 * 7, 2 * 2 * 3 * 50, 9, 0, 0]
    assert loops["ufunc_elements"].tolist() == [0, 0, 4 * 2 * 3 * 50 * 50, 0, 0, 0]  # 4 passes


def test_numpy_loops_give_the_roofline_the_cost_of_a_row():
    """A softmax law that pays 30 ns per reduced row (numpy's per-row inner loop, as on real
    machines): the roofline's row term finds it from 20 shapes; without it, the shapes with
    many short rows are far off."""
    per_row = 30e-9

    def data(n, seed):
        rng = np.random.default_rng(seed)
        rows = []
        for p in log_uniform_grid("softmax", n, seed=seed):
            t = (law("softmax", p) + per_row * 2 * p["rows"]) * math.exp(rng.normal(0, 0.02))
            rows.append(
                {
                    "kernel": "softmax",
                    "params": p,
                    "backend": "cpu",
                    "median_s": t,
                    "device": "test-cpu",
                }
            )
        return pd.DataFrame(rows)

    train, test = data(20, 0), data(100, 1)
    errors = _with_and_without("numpy_loops", train, test, coef=(5, per_row))
    assert errors[True] < 0.04
    assert errors[False] > 1.5 * errors[True]


def test_featurize_and_cache_sizes(tmp_path):
    for i, (level, kind, size) in enumerate(
        [
            (1, "Data", "48K"),
            (1, "Instruction", "32K"),
            (2, "Unified", "2048K"),
            (3, "Unified", "64M"),
        ]
    ):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    caches = cache_sizes(str(tmp_path))
    assert caches == {"L1": 48 * 1024, "L2": 2 * 1024**2, "L3": 64 * 1024**2}
    X = featurize(
        [{"kernel": "matmul", "backend": "cpu", "params": {"M": 64, "N": 64, "K": 64}}],
        caches=caches,
    )
    ws = 3 * 64 * 64 * 4
    assert X.loc[0, "ws_over_L1"] == pytest.approx(math.log2(ws / (48 * 1024)))
    assert X.loc[0, "ws_above_L2"] == 0.0
    assert X.loc[0, "log_flops"] == pytest.approx(math.log2(2 * 64**3))
    assert X.loc[0, "kernel=matmul"] == 1.0 and X.loc[0, "matmul.M"] == pytest.approx(math.log2(65))


def test_log_uniform_grid_is_valid_distinct_and_deterministic():
    g = log_uniform_grid("conv2d", 30, seed=3)
    assert g == log_uniform_grid("conv2d", 30, seed=3)
    assert len({json.dumps(c, sort_keys=True) for c in g}) == 30
    spec = get_kernel("conv2d")
    assert all(spec.cost(c, 4).flops <= 6e7 for c in g)
    with pytest.raises(ConfigError, match="could only draw"):
        log_uniform_grid("matmul", 50, ranges={"M": (2, 3), "N": (2, 2), "K": (2, 2)})


def _synthetic_store(path, kernels=("matmul", "softmax"), n=40):
    from accel_toolkit.kernels import config_key
    from accel_toolkit.store import Store

    store = Store(path)
    run = store.start_run(tag="synthetic-law")
    for i, k in enumerate(kernels):
        for r in synthetic(k, n, seed=20 + i).to_dict(orient="records"):
            # every stored row names its configuration, as bench's rows do
            store.add_result(
                {
                    **r,
                    "run_id": run,
                    "family": get_kernel(k).family,
                    "config_key": config_key(k, r["params"], r["dtype"]),
                }
            )
    store.finish_run(run)
    return store


def test_cli_evaluate_and_suggest(tmp_path, capsys):
    from accel_toolkit.cli import main

    store = _synthetic_store(tmp_path / "law.duckdb")
    assert main(["predict", "evaluate", "--db", str(store.path), "--repeats", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    splits = {r["split"] for r in out["evaluation"]}
    assert splits == {"interpolation", "extrapolation"}
    assert (
        main(
            [
                "predict",
                "suggest",
                "--db",
                str(store.path),
                "--kernel",
                "softmax",
                "--backend",
                "cpu",
                "-k",
                "3",
                "--json",
            ]
        )
        == 0
    )
    picks = json.loads(capsys.readouterr().out)
    assert [p["rank"] for p in picks] == [1, 2, 3] and all(
        p["variance_reduction"] > 0 for p in picks
    )
    assert (
        main(
            [
                "predict",
                "suggest",
                "--db",
                str(store.path),
                "--kernel",
                "softmax",
                "--strategy",
                "uncertainty-diversity",
                "-k",
                "2",
                "--json",
            ]
        )
        == 0
    )
    assert all(p["distance"] > 0 for p in json.loads(capsys.readouterr().out))
    assert (
        main(
            [
                "predict",
                "suggest",
                "--db",
                str(store.path),
                "--kernel",
                "softmax",
                "--strategy",
                "best",
            ]
        )
        == 2
    )
    assert "variance-reduction" in capsys.readouterr().err
    # aimed at a few large shapes: other picks, closer to them
    shapes = sorted(log_uniform_grid("softmax", 40, seed=8), key=lambda p: p["rows"] * p["cols"])[
        -4:
    ]
    (tmp_path / "shapes.json").write_text(json.dumps(shapes))
    assert (
        main(
            [
                "predict",
                "suggest",
                "--db",
                str(store.path),
                "--kernel",
                "softmax",
                "-k",
                "3",
                "--targets",
                str(tmp_path / "shapes.json"),
                "--json",
            ]
        )
        == 0
    )
    aimed = json.loads(capsys.readouterr().out)
    size = lambda ps: np.median([p["params"]["rows"] * p["params"]["cols"] for p in ps])  # noqa: E731
    assert size(aimed) > size(picks)
    (tmp_path / "bad.json").write_text("{}")
    assert (
        main(
            [
                "predict",
                "suggest",
                "--db",
                str(store.path),
                "--kernel",
                "softmax",
                "--targets",
                str(tmp_path / "bad.json"),
            ]
        )
        == 2
    )
    assert "list of parameter dicts" in capsys.readouterr().err
    # length scales of a model fitted on an earlier store, or saved to a file
    earlier = _synthetic_store(tmp_path / "earlier.duckdb", kernels=("softmax",), n=60)
    saved = SpeedModel.from_store(earlier.path, kernels=["softmax"]).save(tmp_path / "m.json")
    for source in (earlier.path, saved):
        assert (
            main(
                [
                    "predict",
                    "suggest",
                    "--db",
                    str(store.path),
                    "--kernel",
                    "softmax",
                    "-k",
                    "2",
                    "--length-scales-from",
                    str(source),
                    "--json",
                ]
            )
            == 0
        )
        assert len(json.loads(capsys.readouterr().out)) == 2
    assert (
        main(
            [
                "predict",
                "suggest",
                "--db",
                str(store.path),
                "--kernel",
                "softmax",
                "--length-scales-from",
                str(tmp_path / "gone.duckdb"),
            ]
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err
    # an empty store: exit 2 with a message saying what to run
    assert (
        main(["predict", "suggest", "--db", str(tmp_path / "none.duckdb"), "--kernel", "matmul"])
        == 2
    )
    assert "bench" in capsys.readouterr().err


def test_predictions_section_for_the_report(tmp_path):
    from accel_toolkit.predict import predictions_section

    store = _synthetic_store(tmp_path / "law.duckdb", kernels=("softmax",), n=30)
    sec = predictions_section(store)
    assert sec.ok and set(sec.tables) == {"evaluation", "noise"}
    assert "interpolation" in sec.summary and "<h3>" in sec._repr_html_()
    assert "facet" in sec.charts["predicted_vs_measured"].to_dict()
    empty = predictions_section(tmp_path / "empty.duckdb")
    assert not empty.ok and "predict_eval.py measure" in empty.summary


def test_active_learning_really_measures_on_cpu(tmp_path):
    """The one real-measurement test: 6 tiny softmax configurations, quick timing."""
    from accel_toolkit import TimingSettings
    from accel_toolkit.predict import active_learning
    from accel_toolkit.store import Store

    cands = log_uniform_grid("softmax", 30, seed=5, ranges={"rows": (2, 64), "cols": (8, 256)})
    res = active_learning(
        "softmax",
        "cpu",
        cands,
        budget=6,
        init=5,
        step=1,
        db=tmp_path / "al.duckdb",
        settings=TimingSettings.quick(),
        progress=False,
        model_params={"n_estimators": 30},
    )
    stored = Store(tmp_path / "al.duckdb").results(run_ids=[res.run_id])
    assert len(stored) == 6 and (stored["status"] == "ok").all()
    assert len(res.history) == 6 and res.history["pred_s"].notna().sum() == 1
    last = res.history.iloc[-1]
    assert last["low_s"] <= last["pred_s"] <= last["high_s"] and last["measured_s"] > 0
    assert res.model is not None and len(res.model.training_) == 6
    # a strategy the model cannot use fails before anything is measured or stored
    with pytest.raises(ConfigError, match="needs a GP"):
        active_learning(
            "softmax",
            "cpu",
            cands,
            budget=6,
            db=tmp_path / "never.duckdb",
            model_params={"regressor": "boosting"},
            strategy="variance-reduction",
        )
    assert not (tmp_path / "never.duckdb").exists()


def test_repeats_are_merged_so_a_slowed_run_does_not_pull_the_model():
    from accel_toolkit.predict import aggregate_repeats

    clean = synthetic("matmul", 60, seed=30, sigma=0.03)
    slowed = clean.copy()
    slowed.loc[::3, "median_s"] *= 80.0  # a run that shared its core with another process
    merged = aggregate_repeats(pd.concat([clean, slowed]), "min")
    assert len(merged) == 60 and (merged["repeats"] == 2).all()
    np.testing.assert_allclose(np.sort(merged["median_s"]), np.sort(clean["median_s"]))
    model = SpeedModel(**FAST).fit(pd.concat([clean, slowed]))  # aggregate="min" by default
    test = synthetic("matmul", 40, seed=31, sigma=0.0)
    p = model.predict(test)
    assert np.median(np.abs(p["pred_s"].to_numpy() / test["median_s"].to_numpy() - 1)) < 0.08
    with pytest.raises(ConfigError, match="min"):
        aggregate_repeats(clean, "mean")


def test_min_statistic_sees_through_slow_modes_of_a_shared_machine():
    # A shared VM switches between a fast and a ~1.3x slower mode for seconds at a time (as
    # measured on the CI machine): a run's median lands in either, its fastest calibrated
    # sample stays near the machine's own speed.
    rng = np.random.default_rng(40)
    data = synthetic("matmul", 120, seed=40, sigma=0.0)
    truth = data["median_s"].to_numpy().copy()
    data["min_s"] = truth * np.exp(rng.normal(0.0, 0.01, len(data)))
    data["median_s"] = truth * np.where(rng.random(len(data)) < 0.4, 1.3, 1.03)
    test = synthetic("matmul", 60, seed=41, sigma=0.0)
    for statistic, bound in (("min", 0.05), ("median", None)):
        model = SpeedModel(statistic=statistic, **FAST).fit(data)
        err = np.abs(model.predict(test)["pred_s"].to_numpy() / test["median_s"].to_numpy() - 1)
        if bound is not None:
            assert np.median(err) < bound
            assert (model.training_["latency_s"] == model.training_["min_s"]).all()
        else:  # the median's modes are noise no shape feature explains
            assert np.mean(err <= 0.10) < 0.9
    with pytest.raises(ConfigError, match="statistic"):
        SpeedModel(statistic="p10").fit(data)
    with pytest.raises(PredictionError, match="min_s"):
        SpeedModel(statistic="min").fit(data.drop(columns="min_s"))
    table = evaluate(
        results=data, model_params={"statistic": "min", **FAST}, repeats=1, per_kernel_rows=False
    )
    interp = table[table["split"] == "interpolation"].iloc[0]
    assert interp["within_10pct"] >= 0.9, table


def test_variance_reduction_gains_match_a_gp_refitted_on_the_picks():
    """The greedy rank-one updates equal what sklearn's GP says after conditioning on the
    picks (a GP's posterior covariance does not depend on the measured values)."""
    from sklearn.base import clone

    from accel_toolkit.predict._features import config_frame
    from accel_toolkit.predict._strategies import _variance_reduction

    model = SpeedModel(n_folds=3).fit(synthetic("softmax", 30, seed=4))
    cand = pd.DataFrame(
        {"kernel": "softmax", "backend": "cpu", "params": log_uniform_grid("softmax", 40, seed=21)}
    )
    order, gains = _variance_reduction(model, cand, 3)
    assert len(set(order)) == 3 and (gains > 0).all()
    ((rows, cov, noise),) = model.posterior_cov(cand)
    assert np.allclose(cov, cov.T) and (np.diag(cov) > -1e-9).all() and noise > 0
    ((group, reg),) = model.regressors_.items()  # softmax@cpu: one kernel, one backend
    cols = model.feature_names_[group]
    Xc = model._design(config_frame(cand))[0].reindex(columns=cols, fill_value=0.0).to_numpy()
    Xt = model._design(model.training_)[0].reindex(columns=cols, fill_value=0.0).to_numpy()
    fixed = clone(reg.model_).set_params(
        gaussianprocessregressor__kernel=reg.model_[-1].kernel_,
        gaussianprocessregressor__optimizer=None,
        standardscaler="passthrough",
    )
    scaler = reg.model_[0]
    scale2 = float(np.squeeze(reg.model_[-1]._y_train_std)) ** 2
    before = np.trace(cov)
    for j, gain in enumerate(gains, start=1):
        X = scaler.transform(np.vstack([Xt, Xc[order[:j]]]))
        gp = fixed.fit(X, np.zeros(len(X)))[-1]
        after = np.trace(gp.predict(scaler.transform(Xc), return_cov=True)[1]) * scale2
        after -= noise * len(Xc)
        assert after == pytest.approx(before - gain, rel=1e-3, abs=1e-9)
        before = after
    # with targets the gains are the drop of the variance summed over the targets only
    grid = pd.DataFrame(
        {"kernel": "softmax", "backend": "cpu", "params": log_uniform_grid("softmax", 30, seed=33)}
    )
    tgt = config_frame(grid).nlargest(6, "flops").reset_index(drop=True)
    order_t, gains_t = _variance_reduction(model, cand, 3, targets=tgt)
    assert list(order_t) != list(order)  # aiming at the largest shapes picks other ones
    Xg = model._design(tgt)[0].reindex(columns=cols, fill_value=0.0).to_numpy()

    def target_variance(picked):
        X = scaler.transform(np.vstack([Xt, Xc[picked]]))
        gp = fixed.fit(X, np.zeros(len(X)))[-1]
        return np.trace(gp.predict(scaler.transform(Xg), return_cov=True)[1]) * scale2

    before = target_variance([])
    for j, gain in enumerate(gains_t, start=1):
        after = target_variance(order_t[:j])
        assert after == pytest.approx(before - gain, rel=1e-3, abs=1e-9)
        before = after
    same, _ = _variance_reduction(model, cand, 3, targets=config_frame(cand))
    assert list(same) == list(order)  # the candidates as targets: the default


def test_representative_picks_cover_the_targets_without_a_model():
    boosting = SpeedModel(regressor="boosting", **FAST).fit(synthetic("matmul", 40, seed=2))
    cands = config_frame(
        pd.DataFrame(
            {
                "kernel": "matmul",
                "backend": "cpu",
                "params": log_uniform_grid("matmul", 120, seed=11),
            }
        )
    )
    grid = config_frame(
        pd.DataFrame(
            {
                "kernel": "matmul",
                "backend": "cpu",
                "params": log_uniform_grid("matmul", 200, seed=12),
            }
        )
    )
    small = grid[grid["flops"] <= grid["flops"].quantile(0.15)]  # one family: small GEMMs
    picks = suggest(boosting, cands, k=6, strategy="representative", targets=small)
    assert len({json.dumps(p, sort_keys=True) for p in picks["params"]}) == 6
    assert (picks["flops"] <= cands["flops"].quantile(0.5)).all()  # near the family
    gains = picks["coverage_gain"].to_numpy()
    # greedy facility location: every pick helps, and less than the one before (submodular)
    assert (gains > 0).all() and np.all(np.diff(gains) <= 1e-9)
    assert picks["variance_reduction"].isna().all()
    spread = suggest(boosting, cands, k=6, strategy="representative")  # targets: the grid
    assert spread["flops"].max() > cands["flops"].quantile(0.5)
    assert suggest(boosting, cands, k=2, strategy="random")["coverage_gain"].isna().all()
    # shapes beyond the grid: once the nearest candidate is picked nothing brings them
    # nearer, and the next picks are the candidates nearest to them (the largest GEMMs)
    huge = [{"M": 8192, "N": 8192, "K": 4096}, {"M": 4096, "N": 8192, "K": 8192}]
    far = suggest(boosting, cands, k=4, strategy="representative", kernel="matmul", targets=huge)
    assert far["coverage_gain"].iloc[0] > 0 and (far["coverage_gain"].iloc[1:] == 0).all()
    assert len({json.dumps(p, sort_keys=True) for p in far["params"]}) == 4
    assert (far["flops"] >= cands["flops"].quantile(0.8)).all()
    with pytest.raises(ConfigError, match="kernel and backend"):
        suggest(
            boosting, cands, k=2, strategy="representative", targets=small.assign(backend="webgpu")
        )


def test_suggest_strategies_and_their_errors():
    boosting = SpeedModel(regressor="boosting", **FAST).fit(synthetic("matmul", 40, seed=2))
    cands = log_uniform_grid("matmul", 60, seed=11)
    gp = SpeedModel(n_folds=3).fit(synthetic("matmul", 40, seed=2))
    with pytest.raises(ConfigError, match="targets"):
        suggest(gp, cands, k=2, kernel="matmul", strategy="random", targets=cands[:3])
    picks = suggest(gp, cands, k=4, kernel="matmul")  # auto: variance reduction for a GP
    assert picks["variance_reduction"].notna().all() and picks["distance"].isna().all()
    assert len({json.dumps(p, sort_keys=True) for p in picks["params"]}) == 4
    # trained on the smaller half only of a latency with structure beyond the roofline (a
    # wiggle along the FLOPs), the most informative measurements lie beyond it
    data = synthetic("matmul", 60, seed=5, sigma=0.02)
    data["median_s"] *= np.exp(0.3 * np.sin(np.log2(data["flops"]) / 1.5))
    small = data[data["flops"] <= data["flops"].median()]
    half = SpeedModel(n_folds=3).fit(small)
    first = suggest(half, cands, k=2, kernel="matmul")
    assert (first["flops"] > small["flops"].max()).all()
    assert suggest(boosting, cands, k=2, kernel="matmul")["distance"].notna().all()
    for strategy in ("uncertainty-diversity", "uncertainty", "random"):
        assert len(suggest(gp, cands, k=3, kernel="matmul", strategy=strategy)) == 3
    with pytest.raises(ConfigError, match="needs a GP"):
        suggest(boosting, cands, k=2, kernel="matmul", strategy="variance-reduction")
    with pytest.raises(ConfigError, match="Unknown strategy"):
        suggest(gp, cands, k=2, kernel="matmul", strategy="best")
    with pytest.raises(PredictionError, match="regressor='gp'"):
        boosting.posterior_cov(
            pd.DataFrame({"kernel": "matmul", "backend": "cpu", "params": cands[:3]})
        )


def _wavy(n: int, seed: int) -> pd.DataFrame:
    """The known law times ``exp(0.3 sin(2 log2 K))``: a fast wiggle along K only."""
    df = synthetic("matmul", n, seed=seed, sigma=0.02)
    k = np.log2([p["K"] for p in df["params"]])
    return df.assign(median_s=df["median_s"] * np.exp(0.3 * np.sin(2.0 * k)))


def test_length_scales_of_an_earlier_model_carry_over(tmp_path):
    # which features matter (K, on a short scale) is learned from 150 shapes of an earlier
    # sweep; models of 25 new shapes that reuse those length scales resolve the wiggle in
    # every draw and predict at least as well as models fitting their own (which, with the
    # alignment features left out at this size, mostly find it too)
    earlier = SpeedModel(min_group_configs=10).fit(_wavy(150, seed=20))
    scales = earlier.length_scales_
    assert set(scales) == {"matmul@cpu"}  # the unused kernel-wide model is not fitted
    assert min(scales["matmul@cpu"], key=scales["matmul@cpu"].get) == "matmul.K"
    test = _wavy(100, seed=42)
    errors: dict[str, list[float]] = {"reused": [], "fresh": []}
    for seed in (31, 32, 33):
        few = _wavy(25, seed=seed)
        reused = SpeedModel(min_group_configs=10, length_scales=scales).fit(few)
        fresh = SpeedModel(min_group_configs=10).fit(few)
        for name, model in (("reused", reused), ("fresh", fresh)):
            pred = model.predict(test)["pred_s"]
            errors[name].append(float(np.mean(np.abs(pred / test["median_s"] - 1))))
    assert max(errors["reused"]) < 0.05
    assert np.mean(errors["reused"]) < np.mean(errors["fresh"])
    # the reused model keeps the earlier model's columns and their exact length scales
    varying = [c for c, col in featurize(few).items() if col.nunique() > 1]
    got = reused.length_scales_["matmul@cpu"]
    assert {c for c in varying if "%" not in c} <= set(got) <= set(scales["matmul@cpu"])
    assert got == pytest.approx({c: scales["matmul@cpu"][c] for c in got})
    # the length scales are a parameter, so a saved model refits with them
    path = reused.save(tmp_path / "reused.json")
    np.testing.assert_allclose(
        SpeedModel.load(path).predict(test)["pred_s"], reused.predict(test)["pred_s"]
    )


def test_length_scales_errors_and_gaps():
    scales = SpeedModel(min_group_configs=10).fit(_wavy(40, seed=23)).length_scales_
    with pytest.raises(ConfigError, match="regressor='gp'"):
        SpeedModel(regressor="boosting", length_scales=scales).fit(_wavy(15, seed=24))
    # an entry that lacks a feature varying in the new data: fitted as usual, with a warning
    partial = {g: {k: v for k, v in d.items() if k != "matmul.K"} for g, d in scales.items()}
    with pytest.warns(UserWarning, match="matmul.K"):
        model = SpeedModel(length_scales=partial).fit(_wavy(15, seed=24))
    assert "matmul.K" in model.length_scales_["matmul"]
    # no entry for the kernel at all: fitted as usual, silently
    model = SpeedModel(**FAST, length_scales={"softmax": {"log_flops": 1.0}}).fit(
        synthetic("matmul", 12, seed=25)
    )
    assert set(model.length_scales_) == {"matmul"}


def _aligned(n: int, seed: int) -> pd.DataFrame:
    """The known law, 1.4x slower where K is not a multiple of 8 (an alignment effect)."""
    df = synthetic("matmul", n, seed=seed, sigma=0.02)
    k = np.array([p["K"] for p in df["params"]])
    return df.assign(median_s=df["median_s"] * np.where(k % 8 == 0, 1.0, 1.4))


def test_alignment_features_are_kept_where_they_cross_validate_better():
    def alignment(model: SpeedModel) -> list[str]:
        (group,) = model.regressors_
        return [c for c in model.feature_names_[group] if "%" in c]

    # 150 shapes of a law with an alignment effect: the model with the %w features wins
    many = _aligned(150, seed=3)
    auto = SpeedModel().fit(many)
    assert "matmul.K%8" in alignment(auto)
    test = _aligned(100, seed=43)
    err = {
        name: float(np.mean(np.abs(m.predict(test)["pred_s"] / test["median_s"] - 1)))
        for name, m in (("auto", auto), ("without", SpeedModel(alignment_features=False).fit(many)))
    }
    assert err["auto"] < 0.5 * err["without"], err
    # 15 shapes of a smooth law: the smaller model wins; forcing it either way works
    few = synthetic("matmul", 15, seed=4, sigma=0.02)
    assert alignment(SpeedModel().fit(few)) == []
    assert alignment(SpeedModel(alignment_features=True).fit(few))
    assert alignment(SpeedModel(alignment_features=False).fit(many)) == []
    with pytest.raises(ConfigError, match="alignment_features"):
        SpeedModel(alignment_features="some").fit(few)
    with pytest.raises(ConfigError, match="alignment_features"):
        SpeedModel(alignment_features=1).fit(few)  # not quietly taken for "auto"


def test_noise_floor_bounds_the_fitted_noise():
    exact = synthetic("matmul", 30, seed=6, sigma=0.0)  # a smooth law without any noise
    k = np.log2([p["K"] for p in exact["params"]])
    exact["median_s"] *= np.exp(0.3 * np.sin(k / 2))
    for floor in (0.02, 0.1):
        (reg,) = SpeedModel(noise_floor=floor).fit(exact).regressors_.values()
        assert reg.noise_variance_ >= floor**2 * (1 - 1e-6)
    (reg,) = SpeedModel(noise_floor=None).fit(exact).regressors_.values()
    assert reg.noise_variance_ < 0.02**2
    with pytest.raises(ConfigError, match="noise_floor"):
        SpeedModel(noise_floor=-0.01).fit(exact)


def test_configs_without_a_device_are_predicted_on_the_measured_one(matmul_model):
    # the training rows ran on "test-cpu": a plain parameter dict means that machine
    cfgs = [
        {"kernel": "matmul", "backend": "cpu", "params": p}
        for p in log_uniform_grid("matmul", 5, seed=12)
    ]
    plain = matmul_model.predict(cfgs)
    named = matmul_model.predict([{**c, "device": "test-cpu"} for c in cfgs])
    assert (plain["device"] == "test-cpu").all()
    np.testing.assert_allclose(plain["pred_s"], named["pred_s"])
    np.testing.assert_allclose(plain["high_s"], named["high_s"])
    # two devices measured: which one is meant is unknown, so it stays unknown
    two = pd.concat(
        [
            synthetic("matmul", 20, seed=7),
            synthetic("matmul", 20, seed=8).assign(device="other-cpu"),
        ]
    )
    assert SpeedModel(**FAST).fit(two).predict(cfgs)["device"].isna().all()
