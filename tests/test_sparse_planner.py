"""The sparse plans chosen by the one planner (cpp/planner.h): explain() and
search take the same start, the byte model scans small filters and accumulates
over wide ones, exact_threshold keeps its one meaning, and every filtered
answer stays exact whichever plan the model picks."""

from __future__ import annotations

import numpy as np
import pytest

from fanns.sparse import SparseIndex
from test_sparse_filtered import K, check_exact, exact_scores, skewed_sparse


@pytest.fixture(scope="module")
def world():
    docs, queries = skewed_sparse(4000, 400, nq=30, seed=11)
    index = SparseIndex.build(docs, n_postings=40, block_size=4)
    return docs, queries, exact_scores(docs, queries), index


def masks_passing(n: int, nq: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    masks = np.zeros((nq, n), dtype=bool)
    for i in range(nq):
        masks[i, rng.choice(n, size=count, replace=False)] = True
    return masks


def test_unfiltered_explain_is_the_search_plan(world):
    _, queries, _, index = world
    for plan in ("auto", "blocks", "accumulate"):
        said = index.explain(queries, plan=plan)
        done = index.search(queries, K, plan=plan)
        np.testing.assert_array_equal(said["plans"], done.plans)
        assert (said["passing"] == len(index)).all() and said["n"] == len(index)
    assert set(index.explain(queries, plan="blocks")["plans"]) == {"blocks"}
    assert set(index.explain(queries, plan="accumulate")["plans"]) == {"accumulate"}


@pytest.mark.parametrize("count", [0, 3, 40, 400, 2000, 4000])
def test_filtered_explain_starts_what_search_does(world, count):
    docs, queries, scores, index = world
    n, nq = docs.shape[0], queries.shape[0]
    masks = masks_passing(n, nq, count, seed=count + 1)
    filters = [masks[i] for i in range(nq)]
    said = index.explain(queries, filter=filters)
    done = index.search(queries, K, filter=filters)
    np.testing.assert_array_equal(said["passing"], masks.sum(axis=1))
    check_exact(done, scores, masks, f"{count} passing")
    assert mask_safe(done.ids, masks)
    for start, end in zip(said["plans"], done.plans):
        if start in ("exact", "empty"):
            assert end == start
        else:  # accumulation is certified, or completed
            assert start == "accumulate" and end in ("accumulate", "exact", "full")
    if count == 0:
        assert (said["plans"] == "empty").all()
    if count == 3:  # the lists can hardly meet 3 passing documents: scanned
        assert (said["plans"] == "exact").all()
    if count == n:
        assert (said["plans"] == "accumulate").all()


def mask_safe(ids: np.ndarray, masks: np.ndarray) -> bool:
    return all(masks[i, row[row >= 0]].all() for i, row in enumerate(ids))


def test_the_model_scans_below_a_crossing_and_accumulates_above(world):
    """For each query, as more documents pass, the start moves from a scan to
    accumulation once and never back."""
    docs, queries, _, index = world
    n, nq = docs.shape[0], queries.shape[0]
    rng = np.random.default_rng(3)
    order = rng.permutation(n)
    starts = []
    for count in (5, 20, 80, 200, 500, 1000, 2000, 4000):
        mask = np.zeros(n, dtype=bool)
        mask[order[:count]] = True  # nested filters
        starts.append(index.explain(queries, filter=mask)["plans"])
    starts = np.array(starts)
    assert set(np.unique(starts)) <= {"exact", "accumulate"}
    for q in range(nq):
        column = list(starts[:, q])
        first = column.index("accumulate") if "accumulate" in column else len(column)
        assert all(p == "exact" for p in column[:first]) and all(p == "accumulate" for p in column[first:])
    assert (starts[0] == "exact").all() and (starts[-1] == "accumulate").all()


def test_exact_threshold_keeps_one_meaning(world):
    docs, queries, scores, index = world
    n, nq = docs.shape[0], queries.shape[0]
    masks = masks_passing(n, nq, 300, seed=9)
    filters = [masks[i] for i in range(nq)]
    assert (index.explain(queries, filter=filters, exact_threshold=300)["plans"] == "exact").all()
    assert (index.explain(queries, filter=filters, exact_threshold=299)["plans"] == "accumulate").all()
    assert (index.explain(queries, filter=filters, exact_threshold=0)["plans"] == "accumulate").all()
    for threshold in (300, 0):
        result = index.search(queries, K, filter=filters, exact_threshold=threshold)
        check_exact(result, scores, masks, f"threshold {threshold}")
        if threshold == 300:
            assert (result.plans == "exact").all()
        else:
            assert "exact" not in set(result.plans)


def test_a_forced_plan_under_a_filter(world):
    docs, queries, _, index = world
    n = docs.shape[0]
    wide = np.ones(n, dtype=bool)
    wide[::3] = False
    for plan in ("blocks", "accumulate"):
        said = index.explain(queries, filter=wide, plan=plan)
        assert (said["plans"] == plan).all()
        assert (index.search(queries, K, filter=wide, plan=plan).plans == plan).all()
    few = np.zeros(n, dtype=bool)
    few[:2] = True
    assert (index.explain(queries, filter=few, plan="blocks")["plans"] == "exact").all()


def test_explain_checks_its_arguments(world):
    _, queries, _, index = world
    with pytest.raises(ValueError, match="exact_threshold"):
        index.explain(queries, exact_threshold=-1)
    with pytest.raises(ValueError, match="plan"):
        index.explain(queries, plan="full")
    with pytest.raises(ValueError, match="query_cut"):
        index.explain(queries, query_cut=0)
    with pytest.raises(ValueError):
        index.explain(queries, filter=np.ones(3, dtype=bool))


def test_short_lists_under_a_wide_filter_are_not_scanned(world):
    """A query whose lists hold a few documents, under a filter passing nearly
    everything, accumulates those few instead of scoring every passing row;
    so does a query with no known term."""
    import scipy.sparse as sp

    base, _, _, _ = world
    n, rare = base.shape[0], base.shape[1]
    extra = sp.csr_matrix(  # a new term, in 3 documents only
        (np.ones(3, dtype=np.float32), ([5, 600, 3000], [0, 0, 0])), shape=(n, 1)
    )
    docs = sp.hstack([base, extra]).tocsr()
    index = SparseIndex.build(docs, n_postings=40, block_size=4)
    q = sp.csr_matrix((np.array([2.0, 0.0], dtype=np.float32), ([0, 1], [rare, rare])), shape=(2, docs.shape[1]))
    q.eliminate_zeros()  # the second row has no term
    mask = np.ones(n, dtype=bool)
    mask[::100] = False
    said = index.explain(q, filter=mask)
    assert list(said["plans"]) == ["accumulate", "accumulate"]
    result = index.search(q, K, filter=mask)
    assert (result.scored <= 3).all()
    check_exact(result, exact_scores(docs, q), np.tile(mask, (2, 1)), "rare term")
    assert (result.ids[1] == -1).all()


def test_a_filter_against_the_query_starts_accumulating_and_completes(world):
    """Removing each query's best documents defeats the certificate: queries the
    planner starts by accumulation end completed, and stay exact."""
    docs, queries, scores, index = world
    n, nq = docs.shape[0], queries.shape[0]
    masks = np.ones((nq, n), dtype=bool)
    for i in range(nq):
        masks[i, np.argsort(-scores[i], kind="stable")[:400]] = False
    filters = [masks[i] for i in range(nq)]
    said = index.explain(queries, filter=filters)
    done = index.search(queries, K, filter=filters)
    check_exact(done, scores, masks, "all but the best 400")
    started = said["plans"] == "accumulate"
    assert started.all()
    assert set(done.plans) <= {"accumulate", "exact", "full"}
    assert (done.plans[started] != "accumulate").any()  # some were completed


def test_explain_counts_live_documents_only(world):
    from fanns import field

    docs, queries, _, _ = world
    n = docs.shape[0]
    index = SparseIndex.build(docs, n_postings=40, block_size=4, attributes={"r": np.arange(n)})
    gone = np.arange(0, n, 5)
    index.delete(gone)
    flt = field("r") < 200  # 200 documents, 40 of them deleted
    said = index.explain(queries, filter=flt)
    assert (said["passing"] == 160).all() and said["n"] == n - len(gone)
    assert (index.explain(queries)["passing"] == said["n"]).all()
    done = index.search(queries, K, filter=flt)
    for start, end in zip(said["plans"], done.plans):
        assert end == start or (start == "accumulate" and end in ("exact", "full"))
    found = done.ids[done.ids >= 0]
    assert not np.isin(found, gone).any() and (found < 200).all()
