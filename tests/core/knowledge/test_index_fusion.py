"""Reciprocal rank fusion of the vector and full-text rankings."""

from __future__ import annotations

import pytest

from core.knowledge.index import RRF_K, fuse_rankings


def test_a_chunk_both_searches_found_ranks_above_one_only_one_found() -> None:
    fused = fuse_rankings(["a", "b", "c"], ["c", "d"], k=4)
    assert [chunk for chunk, _score in fused] == ["c", "a", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / (2 + RRF_K) + 1 / (0 + RRF_K))


def test_ties_keep_the_vector_ranking_first_and_k_bounds_the_result() -> None:
    assert fuse_rankings(["a"], ["b"], k=1) == [("a", 1 / RRF_K)]
    assert fuse_rankings([], [], k=3) == []
