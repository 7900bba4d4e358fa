"""Statistics of sparse collections (fanns.bench.sparse_stats) against direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from fanns.bench.sparse_stats import main, posting_stats, read_jsonl_vectors, row_stats


def _matrix():
    rows = [[4.0, 1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 2.0]]
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


def test_row_stats_by_hand():
    s = row_stats(_matrix())
    assert s["nnz_mean"] == pytest.approx(7 / 3)
    # top 10 % of a row = its single largest weight: 4/5, 1/4, 2/2
    assert s["top10%_mass"] == pytest.approx((0.8 + 0.25 + 1.0) / 3)
    # top 20 %: ceil(0.2 * 2) = 1, ceil(0.2 * 4) = 1, 1 -> the same
    assert s["top20%_mass"] == pytest.approx((0.8 + 0.25 + 1.0) / 3)
    assert s["top5_mass"] == pytest.approx(1.0)
    # terms to reach half of the mass: 1, 2, 1; nine tenths: 2, 4, 1
    assert s["terms_for_50%"] == pytest.approx(4 / 3)
    assert s["terms_for_90%"] == pytest.approx(7 / 3)
    assert s["max_over_mean"] == pytest.approx((4 / 2.5 + 1.0 + 1.0) / 3)
    assert s["cv"] == pytest.approx((np.std([4.0, 1.0]) / 2.5 + 0 + 0) / 3)
    assert s["weight_median"] == pytest.approx(1.0)


def test_posting_stats_by_hand():
    s = posting_stats(_matrix())
    df = np.array([2, 2, 1, 1, 1], dtype=float)
    assert s["terms_used"] == 5 and s["df_mean"] == pytest.approx(df.mean())
    assert s["df_max_share"] == pytest.approx(2 / 3)
    assert s["top1%_terms_postings"] == pytest.approx(2 / 7)
    diffs = np.abs(df[:, None] - df[None, :]).sum()
    assert s["gini"] == pytest.approx(diffs / (2 * df.size**2 * df.mean()))


def test_weight_icc_extremes_and_by_hand():
    rng = np.random.default_rng(0)
    n, terms = 400, 50
    cols = np.stack([rng.choice(terms, 10, replace=False) for _ in range(n)])
    rows = np.repeat(np.arange(n), 10)
    own = rng.uniform(0.5, 3.0, terms)
    same = sp.csr_matrix((own[cols.ravel()], (rows, cols.ravel())), shape=(n, terms))
    assert posting_stats(same)["weight_icc"] == pytest.approx(1.0)
    noise = sp.csr_matrix((rng.uniform(0.5, 3.0, rows.size), (rows, cols.ravel())), (n, terms))
    assert abs(posting_stats(noise)["weight_icc"]) < 0.05
    # two terms, two rows each: log weights (0, 0) and (1, 3) -> ANOVA by hand
    tiny = sp.csr_matrix(np.exp(np.array([[0.0, 1.0], [0.0, 3.0]])))
    x = {0: [0.0, 0.0], 1: [1.0, 3.0]}
    grand = 1.0
    msb = sum(2 * (np.mean(v) - grand) ** 2 for v in x.values()) / 1
    msw = sum(((np.array(v) - np.mean(v)) ** 2).sum() for v in x.values()) / 2
    assert posting_stats(tiny)["weight_icc"] == pytest.approx((msb - msw) / (msb + msw))


def test_bad_input_and_jsonl(tmp_path):
    with pytest.raises(ValueError, match="non-negative"):
        row_stats(sp.csr_matrix(np.array([[-1.0, 2.0]])))
    with pytest.raises(ValueError, match="no non-empty"):
        row_stats(sp.csr_matrix((2, 3), dtype=np.float32))
    docs = tmp_path / "docs.jsonl"
    queries = tmp_path / "queries.jsonl"
    docs.write_text("\n".join(json.dumps({"vector": v}) for v in ({"a": 1, "b": 3}, {"b": 2})))
    queries.write_text(json.dumps({"id": 0, "vector": {"c": 1.5, "a": 0.5}}) + "\n")
    d, vocab = read_jsonl_vectors(docs)
    q, _ = read_jsonl_vectors(queries, vocab)
    assert vocab == {"a": 0, "b": 1, "c": 2}
    np.testing.assert_array_equal(d.toarray(), [[1, 3], [0, 2]])
    np.testing.assert_array_equal(q.toarray(), [[0.5, 0, 1.5]])
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_jsonl_vectors(tmp_path / "bad.jsonl")


def test_command_line(tmp_path, capsys):
    argv = ["--sets", "splade", "--splade-docs", "500", "--queries", "20", "--data", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| top20%_mass |" in out and "| df_max_share |" in out and "Queries:" in out


def test_empty_rows_are_left_out_of_the_non_zero_figures():
    m = sp.vstack([_matrix(), sp.csr_matrix((2, 5), dtype=np.float32)]).tocsr()
    s = row_stats(m)
    assert s["rows"] == 5
    assert s["nnz_mean"] == pytest.approx(7 / 3)
    assert s["nnz_p10"] >= 1
