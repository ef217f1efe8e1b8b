"""Real benchmarks: loaders for their on-disk formats, answer parsing and official metrics.

Entry points: :func:`load_benchmark` (→ questions + a load report), :func:`score` (→ the
official report) and :data:`BENCHMARKS` (the registry). Nothing here imports Ray, torch or
vLLM, and nothing downloads: every loader reads a local directory.
"""

from m1.data.registry import BENCHMARKS, BenchmarkSpec, get_spec, load_benchmark, score
from m1.data.report import DataError, LoadReport, LoadResult

__all__ = [
    "BENCHMARKS",
    "BenchmarkSpec",
    "DataError",
    "LoadReport",
    "LoadResult",
    "get_spec",
    "load_benchmark",
    "score",
]
