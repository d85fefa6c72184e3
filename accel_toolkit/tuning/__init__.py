"""The WGSL autotuner: per-adapter, per-shape-bucket knobs that are stored and used.

:func:`tune` searches a tunable kernel's knobs (:data:`SPACES`) on the ``wgpu`` and
``webgpu`` backends and writes every point tried to the ``tuning`` table of the results
database; the backends look up the winner for their adapter (:func:`fingerprint`) and the
shape's bucket (:func:`bucket`) through :func:`lookup`. See ``docs/tuning.md``.
"""

from ._fingerprint import fingerprint, fingerprint_key
from ._lookup import Choice, lookup, tuning_db, tuning_status
from ._records import TunedEntry, best, invalidate, tuning_table
from ._space import SPACES, KnobSpace, bucket, bucket_shape, knobs_key
from ._tuner import TuneReport, check_point, tune, verify_shapes

__all__ = [
    "Choice",
    "KnobSpace",
    "SPACES",
    "TuneReport",
    "TunedEntry",
    "best",
    "bucket",
    "bucket_shape",
    "check_point",
    "fingerprint",
    "fingerprint_key",
    "invalidate",
    "knobs_key",
    "lookup",
    "tune",
    "tuning_db",
    "tuning_status",
    "tuning_table",
    "verify_shapes",
]
