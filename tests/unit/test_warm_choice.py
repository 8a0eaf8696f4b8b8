"""The start-up's choice of DCs to open: the busiest first, at most WARM_DCS, never one that
served nothing; checked on every count of 0..2 streams over five DCs and every limit."""

from __future__ import annotations

import itertools

from tgstream.telegram.warm_choice import most_served

DCS = (1, 2, 3, 4, 5)


def test_the_busiest_dcs_first_up_to_the_limit() -> None:
    assert most_served({4: 12, 2: 3, 5: 7}, 2) == [4, 5]
    assert most_served({4: 12, 2: 3, 5: 7}, 5) == [4, 5, 2]
    assert most_served({4: 12}, 0) == []
    assert most_served({}, 3) == []


def test_a_dc_that_served_nothing_is_never_opened() -> None:
    assert most_served({1: 0, 3: 0, 4: 1}, 5) == [4]


def test_ties_go_to_the_lower_dc_whatever_the_order_counts_come_in() -> None:
    assert most_served({5: 2, 1: 2, 3: 2}, 2) == [1, 3]
    assert most_served(dict(reversed(list({5: 2, 1: 2, 3: 2}.items()))), 2) == [1, 3]


def test_every_count_and_limit() -> None:
    for counts in itertools.product(range(3), repeat=len(DCS)):
        served = dict(zip(DCS, counts, strict=True))
        busy = [dc for dc in DCS if served[dc] > 0]
        for limit in range(len(DCS) + 2):
            chosen = most_served(served, limit)
            assert len(chosen) == min(limit, len(busy))
            assert set(chosen) <= set(busy)
            left = set(busy) - set(chosen)
            # Busiest first, the lower DC first among equals; nothing left beats a chosen one.
            assert chosen == sorted(chosen, key=lambda dc: (-served[dc], dc))
            assert all((-served[c], c) < (-served[o], o) for c in chosen for o in left)
