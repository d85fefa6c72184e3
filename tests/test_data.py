"""The reference sweep shipped in data/ imports cleanly and is what data/README.md says."""

from pathlib import Path

from accel_toolkit.kernels import kernel_names
from accel_toolkit.store import Store

REF = Path(__file__).resolve().parent.parent / "data" / "reference-small"


def test_reference_sweep_imports(db_path):
    s = Store(db_path)
    added = s.import_parquet(REF)
    assert added["measurements"] == 111 and added["samples"] > 111
    df = s.results(tag="small-compare")
    # every kernel the library had when the sweep was measured (rmsnorm came later)
    assert set(df["kernel"]) == set(kernel_names()) - {"rmsnorm"}
    assert set(df["backend"]) == {"cpu", "webgpu", "webnn"}
    assert df["status"].eq("ok").all() and df["device"].notna().all()
    assert s.import_parquet(REF)["measurements"] == 0  # merging twice adds nothing


def test_the_package_ships_the_same_reference_sweep():
    from accel_toolkit.store import reference_data

    shipped = reference_data()
    assert shipped.is_dir() and not shipped.is_relative_to(REF.parent.parent / "data")
    files = sorted(p.name for p in REF.glob("*.parquet"))
    assert files == sorted(p.name for p in shipped.glob("*.parquet"))
    for name in files:
        assert (shipped / name).read_bytes() == (REF / name).read_bytes(), name
