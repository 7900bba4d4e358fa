"""Fuzz targets: the filter language, the index file loaders (single files and
segmented directories), search arguments.

Each target takes a byte string and must either succeed or raise one of the
exceptions the API documents for bad input; anything else (another exception,
a wrong answer, a crash, a hang) is a finding. The same functions are driven
by atheris (tests/fuzz/run.sh, coverage-guided) and by a seeded random byte
generator in tests/test_fuzz.py (a short run in the test suite).
"""

from __future__ import annotations

from fuzz_files import dense_load_target, sparse_load_target
from fuzz_filters import filter_target
from fuzz_search import search_target
from fuzz_segments import segmented_load_target

TARGETS = {
    "filter": filter_target,
    "search": search_target,
    "load_dense": dense_load_target,
    "load_sparse": sparse_load_target,
    "load_segmented": segmented_load_target,
}
