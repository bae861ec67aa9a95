"""Schemas and loaders for catalogs/: hardware, models, workloads and economics, with sources."""

from optimizer.catalog.catalog import Catalog, Origin, Record, UnknownIdError
from optimizer.catalog.kinds import KIND_BY_NAME, KINDS, Kind
from optimizer.catalog.loader import bundled_catalog_dir, load_catalog
from optimizer.catalog.model_facts import ModelFacts, kv_bytes_per_token, model_facts
from optimizer.catalog.precision import Precision

__all__ = [
    "KINDS",
    "KIND_BY_NAME",
    "Catalog",
    "Kind",
    "ModelFacts",
    "Origin",
    "Precision",
    "Record",
    "UnknownIdError",
    "bundled_catalog_dir",
    "kv_bytes_per_token",
    "load_catalog",
    "model_facts",
]
