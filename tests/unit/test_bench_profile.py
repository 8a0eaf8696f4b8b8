"""tgbench.profile's reading of py-spy's collapsed stacks: shares of the busy samples, own
and including callees, with idle executor threads and thread roots left out."""

from __future__ import annotations

from tgbench.profile import summarize

ROOT = "_bootstrap (threading.py:995);_worker (concurrent/futures/thread.py:83)"
LOOP = "<module> (tgstream/__main__.py:3);run (asyncio/runners.py:118)"
SITE = "/x/.venv/lib/python3.11/site-packages/"

COLLAPSED = "\n".join(
    [
        f'process 1:"python";thread (0x1);{ROOT};run (concurrent/futures/thread.py:58);'
        f"unpack ({SITE}pyrogram/crypto/mtproto.py:62);"
        f"ige256_decrypt ({SITE}pyrogram/crypto/aes.py:30) 6",
        f"thread (0x1);{ROOT};run (concurrent/futures/thread.py:58);"
        f"unpack ({SITE}pyrogram/crypto/mtproto.py:70) 2",
        # Blocked on its queue: not work, whatever py-spy says.
        "thread (0x1);_bootstrap (threading.py:995);_worker (concurrent/futures/thread.py:81) 50",
        f"thread (0x2);{LOOP};body (/w/tgstream/streaming/source.py:89) 2",
        "garbage line without a count",
    ]
)


def test_shares_of_busy_samples_own_and_inclusive() -> None:
    own, inclusive = summarize(COLLAPSED, top=10)
    assert own == [
        ("ige256_decrypt (pyrogram/crypto/aes.py)", 0.6),
        ("unpack (pyrogram/crypto/mtproto.py)", 0.2),
        ("body (tgstream/streaming/source.py)", 0.2),
    ]
    assert dict(inclusive) == {
        "unpack (pyrogram/crypto/mtproto.py)": 0.8,
        "ige256_decrypt (pyrogram/crypto/aes.py)": 0.6,
        "body (tgstream/streaming/source.py)": 0.2,
    }


def test_top_cuts_the_lists_and_nothing_busy_gives_nothing() -> None:
    own, inclusive = summarize(COLLAPSED, top=1)
    assert own == [("ige256_decrypt (pyrogram/crypto/aes.py)", 0.6)]
    assert inclusive == [("unpack (pyrogram/crypto/mtproto.py)", 0.8)]
    idle = "thread (0x1);_bootstrap (threading.py:995);_worker (concurrent/futures/thread.py:81) 9"
    assert summarize(idle, top=5) == ([], [])
