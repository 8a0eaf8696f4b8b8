"""Which DCs a start-up opens connections to before anyone asks: pure, no I/O.

The DCs that served the most streams, busiest first, at most `limit` of them; a DC that
served nothing is never worth a connection.  Ties go to the lower DC number, so the
choice is the same on every replica reading the same counts.
"""

from __future__ import annotations

from collections.abc import Mapping


def most_served(served: Mapping[int, int], limit: int) -> list[int]:
    ranked = sorted(
        (dc for dc, count in served.items() if count > 0), key=lambda dc: (-served[dc], dc)
    )
    return ranked[: max(0, limit)]
