"""The DuckDB results store (see :mod:`accel_toolkit.store._schema` for the schema)."""

from ._resume import check_resume
from ._schema import SCHEMA_VERSION
from ._store import Store, default_db_path, open_store, reference_data, to_json

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "check_resume",
    "default_db_path",
    "open_store",
    "reference_data",
    "to_json",
]
