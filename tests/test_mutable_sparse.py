"""External ids and deletes of the sparse index, against exact inner products."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import field
from fanns.sparse import SparseIndex
from oracle import exact_sparse

K = 8


def _data():
    return exact_sparse(600, 120, max_terms=20, nq=20, terms_per_query=5, seed=5)


def _truth(scores, live, k):
    """Per query: the exact top-k scores among live rows with a positive score."""
    out = []
    for row in scores:
        ok = live & (row > 0)
        out.append(np.sort(row[ok])[::-1][:k])
    return out


@pytest.mark.parametrize("plan", ["blocks", "accumulate"])
def test_deleted_documents_never_return_and_ids_are_external(tmp_path, plan):
    docs, queries = _data()
    n = docs.shape[0]
    ids = np.arange(n, dtype=np.int64) * 5 + 7
    cats = ["a" if i % 3 else "b" for i in range(n)]
    index = SparseIndex.build(docs, ids=ids, attributes={"c": cats}, n_postings=None, block_size=4)
    exact = np.asarray((docs @ queries.T).toarray().T, dtype=np.float64)
    rng = np.random.default_rng(1)
    live = np.ones(n, dtype=bool)
    options = dict(k=K, query_cut=None, heap_factor=0, plan=plan)
    for round_ in range(3):
        gone = rng.choice(np.flatnonzero(live), size=120, replace=False)
        assert index.delete(ids[gone]) == len(gone)
        live[gone] = False
        assert len(index) == int(live.sum())
        assert not index.contains(ids[gone]).any() and index.contains(ids[live]).all()
        for flt, passing in ((None, live), (field("c") == "b", live & (np.array(cats) == "b"))):
            result = index.search(queries, filter=flt, **options)
            for q in range(queries.shape[0]):
                got = result.ids[q][result.ids[q] >= 0]
                rows = (got - 7) // 5
                assert np.array_equal(ids[rows], got) and passing[rows].all()
                np.testing.assert_allclose(result.scores[q][: len(got)], exact[q, rows], rtol=1e-5)
                want = _truth(exact[q : q + 1], passing, K)[0]
                np.testing.assert_allclose(result.scores[q][: len(got)], want, rtol=1e-5)
        if round_ == 1:
            index.save(tmp_path / "sparse.fanns")
            index = SparseIndex.load(tmp_path / "sparse.fanns")
            np.testing.assert_array_equal(index.ids, ids[live])
    with pytest.raises(KeyError, match="not in the index"):
        index.delete([ids[np.flatnonzero(live)[0]], -1])
    assert len(index) == int(live.sum())
    assert index.delete([-1], missing="ignore") == 0
    with pytest.raises(TypeError, match="filter expressions"):
        index.search(queries, k=K, filter=np.ones(n, dtype=bool))


def test_a_plain_sparse_index_keeps_its_rows_and_file(tmp_path):
    docs, queries = _data()
    index = SparseIndex.build(docs)
    mask = np.arange(docs.shape[0]) < 100
    assert (index.search(queries, k=K, filter=mask).ids < 100).all()
    index.save(tmp_path / "plain.fanns")
    loaded = SparseIndex.load(tmp_path / "plain.fanns")
    np.testing.assert_array_equal(loaded.ids, np.arange(docs.shape[0]))
    assert 3 in loaded and -3 not in loaded
    with pytest.raises(ValueError, match="duplicates"):
        SparseIndex.build(docs[:3], ids=[1, 1, 2])
    assert isinstance(fanns.SparseIndex, type)
