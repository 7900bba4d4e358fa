"""A filtered k-NN index sharded over Ray actors, with the surface of :class:`fanns.Index`.

Needs the ``ray`` extra: ``pip install 'fanns[ray]'``.

Example:
    >>> import numpy as np, fanns
    >>> from fanns.distributed import ShardedIndex
    >>> vectors = np.random.default_rng(0).standard_normal((4000, 32)).astype(np.float32)
    >>> index = ShardedIndex.build(vectors, attributes={"year": np.arange(4000) % 30}, shards=4)
    >>> result = index.search(vectors[:2], k=5, filter=fanns.field("year") < 10)
    >>> result.ids.shape, result.shards_answered
    ((2, 5), (0, 1, 2, 3))
"""

from fanns.distributed.assign import shard_of, splitmix64
from fanns.distributed.index import ShardedIndex
from fanns.distributed.result import ShardedSearchResult, ShardError

__all__ = ["ShardError", "ShardedIndex", "ShardedSearchResult", "shard_of", "splitmix64"]
