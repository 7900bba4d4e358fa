"""Datasets for fanns: the arXiv-for-FANNS layout, its workloads, exact ground truth,
downloads of the published sets and arXiv-like synthetic data.

>>> from fanns.datasets import synthetic_arxiv, exact_knn
>>> ds = synthetic_arxiv(n=2000, dim=32, nq=5)
>>> mask = ds.workloads["emis"].mask(0, ds)
>>> exact_knn(ds.vectors, ds.queries[:1], 10, masks=[mask])[0].size <= 10
True
"""

from __future__ import annotations

from fanns.datasets.arxiv import (
    ATTRIBUTE_KEYS,
    GROUND_TRUTH_FILES,
    PUBLISHED_FILES,
    QUERY_ATTRIBUTE_FILES,
    ArxivDataset,
    ground_truth_filename,
    iter_jsonl,
    load_arxiv_fanns,
    read_jsonl,
    write_arxiv_layout,
    write_jsonl,
)
from fanns.datasets.attribute_file import read_attribute_store
from fanns.datasets.download import (
    DATASET_SIZES,
    dataset_url,
    download_arxiv_fanns,
    download_file,
)
from fanns.datasets.groundtruth import compute_ground_truth, exact_knn, write_ground_truth
from fanns.datasets.lift import lift_dataset, lift_vectors
from fanns.datasets.synthetic import synthetic_arxiv
from fanns.datasets.vecs import (
    fvecs_shape,
    iter_fvecs,
    read_fvecs,
    read_ivecs,
    read_ivecs_padded,
    write_fvecs,
    write_ivecs,
)
from fanns.datasets.workloads import (
    AttributeColumns,
    ContainsWorkload,
    EqualityWorkload,
    RangeWorkload,
    UnfilteredWorkload,
    Workload,
    make_workload,
)

__all__ = [
    "ATTRIBUTE_KEYS",
    "DATASET_SIZES",
    "GROUND_TRUTH_FILES",
    "PUBLISHED_FILES",
    "QUERY_ATTRIBUTE_FILES",
    "ArxivDataset",
    "AttributeColumns",
    "ContainsWorkload",
    "EqualityWorkload",
    "RangeWorkload",
    "UnfilteredWorkload",
    "Workload",
    "compute_ground_truth",
    "dataset_url",
    "download_arxiv_fanns",
    "download_file",
    "exact_knn",
    "fvecs_shape",
    "ground_truth_filename",
    "iter_fvecs",
    "iter_jsonl",
    "lift_dataset",
    "lift_vectors",
    "load_arxiv_fanns",
    "make_workload",
    "read_fvecs",
    "read_ivecs",
    "read_attribute_store",
    "read_ivecs_padded",
    "read_jsonl",
    "synthetic_arxiv",
    "write_arxiv_layout",
    "write_fvecs",
    "write_ground_truth",
    "write_ivecs",
    "write_jsonl",
]
