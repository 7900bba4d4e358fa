"""Synthetic data shaped like arXiv-for-FANNS, for tests and quick benchmarks.

Papers get the 11 published attributes with arXiv-like distributions: Zipf-like
popularity of about twenty main categories and their sub categories, one to
three related main categories per paper, update dates skewed to recent years,
authors drawn from a Zipf-distributed pool, and some nulls where the published
data has them. Vectors are correlated with categories: each sub category has a
centre near its main category's centre, and a paper's vector is the normalised
mixture of its sub categories' centres plus anisotropic noise. Queries come from
the same distribution; query attributes are sampled from the database's own
values as in the published benchmark, and ground truth is exact.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

import numpy as np

from fanns.datasets.arxiv import ArxivDataset
from fanns.datasets.groundtruth import compute_ground_truth

__all__ = ["MAIN_CATEGORIES", "synthetic_arxiv"]

_TAXONOMY = """
cs: LG CV AI CL RO CR IT SE IR HC DS DC NI SY NE GT CY LO DB MA GR SD PL CE MM SI ET FL DM CC CG
    NA PF AR DL MS OS SC GL OH
math: AP CO PR OC NT AG DG NA FA DS ST GT MP RT CA LO GR AT SG QA CV MG KT OA RA SP AC GM HO CT GN
cond-mat: mtrl-sci str-el stat-mech mes-hall supr-con soft quant-gas dis-nn other
astro-ph: GA CO SR HE EP IM
physics: optics flu-dyn comp-ph ins-det atom-ph soc-ph chem-ph plasm-ph app-ph bio-ph data-an
    med-ph class-ph acc-ph gen-ph geo-ph ao-ph ed-ph hist-ph space-ph atm-clus pop-ph
hep-ph:
quant-ph:
stat: ML ME AP TH CO OT
hep-th:
gr-qc:
eess: SP IV SY AS
math-ph:
nucl-th:
q-bio: NC QM PE BM GN MN TO CB SC OT
hep-ex:
nlin: CD PS AO SI CG
econ: EM GN TH
q-fin: ST CP MF PM RM TR GN PR EC
nucl-ex:
hep-lat:
"""


def _parse_taxonomy(text: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.strip().splitlines():
        if line.startswith(" "):
            out[current].extend(line.split())
        else:
            current, _, rest = line.partition(":")
            out[current] = rest.split()
    return {main: tuple(subs) for main, subs in out.items()}


# Main categories in decreasing popularity, each with its sub categories (also
# in decreasing popularity); an empty tuple means the archive has no subdivision
# and its sub category is its own name.
MAIN_CATEGORIES: dict[str, tuple[str, ...]] = _parse_taxonomy(_TAXONOMY)

# Groups of main categories that are often cross-listed together.
_RELATED = (
    ("cs", "stat", "eess", "math", "q-bio", "econ"),
    ("astro-ph", "gr-qc", "hep-ph", "hep-th", "physics", "nucl-th"),
    ("hep-ph", "hep-th", "hep-ex", "hep-lat", "nucl-th", "nucl-ex", "gr-qc"),
    ("math", "math-ph", "hep-th", "nlin", "quant-ph"),
    ("cond-mat", "physics", "quant-ph", "nlin"),
    ("q-fin", "econ", "stat", "math"),
    ("q-bio", "physics", "cond-mat"),
)

_LICENSES = (
    ("http://arxiv.org/licenses/nonexclusive-distrib/1.0/", 0.62),
    ("http://creativecommons.org/licenses/by/4.0/", 0.24),
    ("http://creativecommons.org/licenses/by-nc-sa/4.0/", 0.04),
    ("http://creativecommons.org/licenses/by-nc-nd/4.0/", 0.04),
    ("http://creativecommons.org/licenses/by-sa/4.0/", 0.02),
    ("http://creativecommons.org/publicdomain/zero/1.0/", 0.02),
    ("http://creativecommons.org/licenses/by/3.0/", 0.02),
)

_GIVEN = (
    "Wei Yang Hao Jun Lei Min Yu Xin Anna Maria David Michael John Peter Thomas Daniel Laura "
    "Sarah Elena Marco Luca Giulia Ahmed Fatima Omar Priya Rahul Arjun Ananya Sergey Olga Ivan "
    "Pierre Claire Hans Katrin Jakob Sofia Lucas Mateo Camila Kenji Yuki Haruto Ji-woo Min-jun "
    "Seo-yeon Nikolai Tomasz Agnieszka Carlos Ana Jose Emily James Robert Linda Chen Ravi Meera "
).split()
_FAMILY = (
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Smith Johnson Brown Miller Garcia "
    "Martinez Rossi Russo Bianchi Muller Schmidt Schneider Fischer Weber Martin Bernard Dubois "
    "Kumar Sharma Singh Patel Gupta Ivanov Petrov Smirnov Kowalski Nowak Kim Lee Park Choi Sato "
    "Suzuki Tanaka Watanabe Silva Santos Oliveira Rodriguez Lopez Gonzalez Nguyen Tran Cohen "
    "Levi Hassan Ali Khan Novak Horvat Jensen Nielsen Andersson Virtanen "
).split()

_FIRST_DAY = datetime.date(2007, 5, 23)
_LAST_DAY = datetime.date(2025, 6, 30)


def _zipf_weights(count: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, count + 1, dtype=np.float64) ** exponent
    return w / w.sum()


def _dates_as_ints(days: np.ndarray) -> np.ndarray:
    dates = np.datetime64(_FIRST_DAY.isoformat(), "D") + days.astype("timedelta64[D]")
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mday = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    return years * 10000 + months * 100 + mday


class _Taxonomy:
    def __init__(self) -> None:
        self.mains = list(MAIN_CATEGORIES)
        self.main_weights = _zipf_weights(len(self.mains), 1.1)
        self.subs: list[str] = []
        self.sub_main: list[int] = []
        self.subs_of: list[list[int]] = []
        self.sub_weights: list[list[float]] = []
        for m, main in enumerate(self.mains):
            names = MAIN_CATEGORIES[main] or (None,)
            ids = []
            for s in names:
                ids.append(len(self.subs))
                self.subs.append(main if s is None else f"{main}.{s}")
                self.sub_main.append(m)
            self.subs_of.append(ids)
            self.sub_weights.append(list(np.cumsum(_zipf_weights(len(ids), 1.0))))
        related = np.ones((len(self.mains), len(self.mains)))
        index = {name: i for i, name in enumerate(self.mains)}
        for group in _RELATED:
            for a in group:
                for b in group:
                    related[index[a], index[b]] = 12.0
        affinity = related * self.main_weights[None, :]
        np.fill_diagonal(affinity, 0.0)
        self.cross_cum = [list(np.cumsum(row)) for row in affinity]
        self.main_cum = list(np.cumsum(self.main_weights))


def _papers(
    count: int, tax: _Taxonomy, rng: np.random.Generator, prng: random.Random
) -> tuple[list[list[int]], list[list[int]], list[list[float]]]:
    """Main category ids, sub category ids and sub weights of ``count`` papers."""
    n_main = rng.choice([1, 2, 3], size=count, p=[0.8, 0.16, 0.04])
    n_extra_sub = rng.choice([0, 1, 2, 3, 4], size=count, p=[0.45, 0.32, 0.14, 0.06, 0.03])
    mains_out, subs_out, weights_out = [], [], []
    for i in range(count):
        first = prng.choices(range(len(tax.mains)), cum_weights=tax.main_cum)[0]
        mains = [first]
        while len(mains) < n_main[i]:
            cand = prng.choices(range(len(tax.mains)), cum_weights=tax.cross_cum[first])[0]
            if cand not in mains:
                mains.append(cand)
        subs = []
        for m in mains:
            subs.append(
                tax.subs_of[m][
                    prng.choices(range(len(tax.subs_of[m])), cum_weights=tax.sub_weights[m])[0]
                ]
            )
        for _ in range(int(n_extra_sub[i])):
            m = mains[0] if prng.random() < 0.7 else prng.choice(mains)
            options = tax.subs_of[m]
            s = options[prng.choices(range(len(options)), cum_weights=tax.sub_weights[m])[0]]
            if s not in subs:
                subs.append(s)
        weights = [1.0] + [0.55] * (len(subs) - 1)
        mains_out.append(mains)
        subs_out.append(subs)
        weights_out.append(weights)
    return mains_out, subs_out, weights_out


def _vectors(
    subs: list[list[int]],
    weights: list[list[float]],
    centres: np.ndarray,
    noise_scale: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    count = len(subs)
    dim = centres.shape[1]
    out = np.empty((count, dim), dtype=np.float32)
    block = 8192
    for lo in range(0, count, block):
        hi = min(count, lo + block)
        mix = np.zeros((hi - lo, centres.shape[0]), dtype=np.float64)
        for r in range(lo, hi):
            mix[r - lo, subs[r]] = weights[r]
        v = mix @ centres
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        v += rng.standard_normal((hi - lo, dim)) * noise_scale
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[lo:hi] = v
    return out


def synthetic_arxiv(
    n: int = 10_000,
    dim: int = 128,
    *,
    nq: int = 200,
    seed: int = 0,
    k: int = 100,
    ground_truth: bool = True,
    threads: int = 0,
) -> ArxivDataset:
    """Generate an in-memory arXiv-like dataset, deterministic for a given ``seed``.

    Vectors are float32 and L2-normalised; the attributes have the 11 published
    keys; the EM, R and EMIS query attributes are sampled from the database's
    own values; with ``ground_truth=True`` every workload gets its exact top-``k``
    (squared L2, ties by id).

    >>> ds = synthetic_arxiv(n=2000, dim=32, nq=10)
    >>> len(ds), ds.dim, sorted(ds.ground_truth)
    (2000, 32, ['em', 'emis', 'r', 'unfiltered'])
    """
    for value, label, low in ((n, "n", 1), (dim, "dim", 1), (nq, "nq", 0), (k, "k", 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{label} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{label} must be >= {low}, got {value}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    n, dim, nq, k = int(n), int(dim), int(nq), int(k)
    rng = np.random.default_rng(int(seed))
    prng = random.Random(int(rng.integers(2**62)))
    tax = _Taxonomy()

    main_centres = rng.standard_normal((len(tax.mains), dim))
    sub_centres = 0.75 * main_centres[tax.sub_main] + 0.65 * rng.standard_normal(
        (len(tax.subs), dim)
    )
    sub_centres /= np.linalg.norm(sub_centres, axis=1, keepdims=True)
    noise_scale = (np.arange(1, dim + 1, dtype=np.float64) ** -0.5)[rng.permutation(dim)]
    noise_scale *= 0.9 / np.sqrt((noise_scale**2).sum())

    total = n + nq
    mains, subs, weights = _papers(total, tax, rng, prng)
    vectors_all = _vectors(subs, weights, sub_centres, noise_scale, rng)
    attributes = _attributes(mains[:n], subs[:n], tax, rng, prng)
    vectors = vectors_all[:n]
    queries = vectors_all[n:]

    rows = rng.integers(0, n, size=(4, nq))
    em = [{"label": attributes[r]["number_of_sub_categories"]} for r in rows[0]]
    r_queries = []
    for a, b in zip(rows[1], rows[2]):
        lo, hi = sorted((attributes[a]["update_date"], attributes[b]["update_date"]))
        r_queries.append({"range_start": lo, "range_end": hi})
    emis = [{"label": prng.choice(attributes[r]["main_categories"])} for r in rows[3]]
    dataset = ArxivDataset(
        vectors,
        attributes,
        queries,
        query_attributes={"em": em, "r": r_queries, "emis": emis},
        name=f"synthetic-n{n}-d{dim}-seed{int(seed)}",
    )
    if ground_truth:
        truth = {
            name: compute_ground_truth(dataset, name, k, threads=threads)
            for name in ("unfiltered", "em", "r", "emis")
        }
        dataset = ArxivDataset(
            vectors,
            attributes,
            queries,
            query_attributes=dataset.query_attributes,
            ground_truth=truth,
            name=dataset.name,
        )
    return dataset


def _attributes(
    mains: list[list[int]],
    subs: list[list[int]],
    tax: _Taxonomy,
    rng: np.random.Generator,
    prng: random.Random,
) -> list[dict[str, Any]]:
    n = len(mains)
    span = (_LAST_DAY - _FIRST_DAY).days
    days = np.minimum(span, np.floor(rng.beta(2.6, 1.0, size=n) * (span + 1))).astype(np.int64)
    dates = _dates_as_ints(days).tolist()
    has_comment = (rng.random(n) < 0.62).tolist()
    versions = rng.geometric(0.55, size=n)
    versions_null = rng.random(n) < 0.05
    license_cum = list(np.cumsum([p for _, p in _LICENSES]))
    license_null = (rng.random(n) < 0.15).tolist()
    submitter_null = (rng.random(n) < 0.02).tolist()
    big = rng.random(n) < 0.015
    n_authors = np.where(
        big, rng.integers(20, 200, size=n), 1 + rng.negative_binomial(2, 0.42, size=n)
    ).tolist()

    pool_size = max(500, n // 2)
    names = [f"{g} {f}" for f in _FAMILY for g in _GIVEN]
    prng.shuffle(names)
    pool = []
    for j in range(pool_size):
        base = names[j % len(names)]
        pool.append(base if j < len(names) else f"{base} {chr(65 + (j // len(names)) % 26)}.")
    author_cum = list(np.cumsum(_zipf_weights(pool_size, 0.8)))
    pool_index = range(pool_size)

    records = []
    for i in range(n):
        want = min(int(n_authors[i]), pool_size)
        chosen: list[str] = []
        seen: set[int] = set()
        while len(chosen) < want:
            for a in prng.choices(pool_index, cum_weights=author_cum, k=want - len(chosen)):
                if a not in seen:
                    seen.add(a)
                    chosen.append(pool[a])
        if submitter_null[i]:
            submitter = None
        elif prng.random() < 0.9:
            submitter = prng.choice(chosen)
        else:
            submitter = pool[prng.randrange(pool_size)]
        license_ = None
        if not license_null[i]:
            license_ = _LICENSES[prng.choices(range(len(_LICENSES)), cum_weights=license_cum)[0]][0]
        main_names = [tax.mains[m] for m in mains[i]]
        sub_names = [tax.subs[s] for s in subs[i]]
        records.append(
            {
                "submitter": submitter,
                "has_comment": bool(has_comment[i]),
                "number_of_main_categories": len(main_names),
                "main_categories": main_names,
                "number_of_sub_categories": len(sub_names),
                "sub_categories": sub_names,
                "license": license_,
                "number_of_versions": None if versions_null[i] else int(versions[i]),
                "update_date": int(dates[i]),
                "number_of_authors": len(chosen),
                "authors": chosen,
            }
        )
    return records
