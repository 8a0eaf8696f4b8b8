"""The server's side of a session in the sans-I/O core: msg_ids, seqnos, containers, resends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tgemu.mtproto.containers import parse_container
from tgemu.mtproto.msg_ids import MsgIdClock, check_client_msg_id
from tgemu.mtproto.outgoing import RESEND_BUDGET, Outgoing, Send, Unacked
from tgemu.mtproto.received import ReceivedWindow
from tgemu.mtproto.session import SessionState

NOW = 1_700_000_000.0

_SENDS = st.builds(
    Send,
    body=st.binary(min_size=4, max_size=64).map(lambda b: b + bytes(-len(b) % 4)),
    content_related=st.booleans(),
    is_response=st.booleans(),
)


@given(
    clock=st.lists(st.floats(min_value=-100, max_value=100), min_size=1, max_size=50),
    responses=st.lists(st.booleans(), min_size=50, max_size=50),
)
def test_server_msg_ids_grow_strictly_and_name_their_kind(
    clock: list[float], responses: list[bool]
) -> None:
    """Even when the clock steps back, msg_ids grow; responses end in 1, the others in 3."""
    ids = MsgIdClock()
    minted = [
        ids.next(NOW + offset, is_response)
        for offset, is_response in zip(clock, responses, strict=False)
    ]
    assert minted == sorted(set(minted))
    for msg_id, is_response in zip(minted, responses, strict=False):
        assert msg_id % 4 == (1 if is_response else 3)
    # Never behind the clock that minted it.
    for msg_id, offset in zip(minted, clock, strict=False):
        assert msg_id >= int((NOW + offset) * 2**32) & ~3


@given(st.lists(st.lists(_SENDS, min_size=1, max_size=6), min_size=1, max_size=8))
def test_sealed_messages_are_numbered_as_the_spec_says(batches: list[list[Send]]) -> None:
    session = SessionState(key_id=1, session_id=2, unique_id=3)
    seen_ids: list[int] = []
    content_seqnos: list[int] = []
    for batch in batches:
        out = session.seal(batch, NOW)
        messages = [out]
        if len(batch) > 1:
            # A container: older than none of its messages, not content-related itself.
            inner = parse_container(out.msg_id, out.body)
            assert [m.body for m in inner] == [s.body for s in batch]
            assert out.seqno % 2 == 0
            messages = [Outgoing(m.msg_id, m.seqno, m.body) for m in inner] + [out]
            for m, send in zip(inner, batch, strict=True):
                assert m.seqno % 2 == (1 if send.content_related else 0)
                if send.content_related:
                    content_seqnos.append(m.seqno)
        elif batch[0].content_related:
            assert out.seqno % 2 == 1
            content_seqnos.append(out.seqno)
        seen_ids += [m.msg_id for m in messages]
    assert len(seen_ids) == len(set(seen_ids))
    # Content-related messages count up by one each: seqnos 1, 3, 5, ...
    assert content_seqnos == [2 * i + 1 for i in range(len(content_seqnos))]
    # Exactly the content-related ones wait for an acknowledgment.
    kept = [s.body for batch in batches for s in batch if s.content_related]
    assert [out.body for out in session.unacked] == kept


@given(st.lists(st.integers(min_value=1, max_value=RESEND_BUDGET // 3), max_size=12))
def test_unacked_messages_stay_within_the_resend_budget(sizes: list[int]) -> None:
    unacked = Unacked()
    for index, size in enumerate(sizes):
        unacked.remember(Outgoing(index, 1, b"\0" * size))
        assert unacked.size == sum(len(o.body) for o in unacked) <= RESEND_BUDGET
    # What is dropped is the oldest.
    kept = [o.msg_id for o in unacked]
    assert kept == list(range(len(sizes) - len(kept), len(sizes)))
    unacked.ack([*kept[:1], -1])
    assert [o.msg_id for o in unacked] == kept[1:]
    assert unacked.size == sum(len(o.body) for o in unacked)


def _clashes(earlier: int, later: int) -> bool:
    """Seqnos must not fall with msg_ids, and content-related (odd) ones are never shared."""
    return earlier > later or (earlier == later and later % 2 == 1)


@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 60), st.booleans()),
        max_size=60,
    )
)
def test_received_window_matches_the_spec_model(
    messages: list[tuple[int, int, bool]],
) -> None:
    """Below 64 messages the window sees everything, so it must agree with the spec exactly."""
    window = ReceivedWindow()
    accepted: dict[int, int] = {}
    for msg_id, seqno, content in messages:
        if msg_id in accepted:
            assert window.seen(msg_id)
            continue
        assert not window.seen(msg_id)
        expected = None
        if content and seqno % 2 == 0:
            expected = 35
        elif not content and seqno % 2:
            expected = 34
        elif any(
            m < msg_id and (s > seqno or (s == seqno and seqno % 2)) for m, s in accepted.items()
        ):
            expected = 32
        elif any(
            m > msg_id and (s < seqno or (s == seqno and seqno % 2)) for m, s in accepted.items()
        ):
            expected = 33
        assert window.accept(msg_id, seqno, content) == expected
        if expected is None:
            accepted[msg_id] = seqno
    for probe in range(-1, 202):
        state = window.state_of(probe)
        if probe in accepted:
            assert state == 4
        elif not accepted or probe < min(accepted):
            assert state == 1
        elif probe > max(accepted):
            assert state == 3
        else:
            assert state == 2


@given(st.integers(min_value=0, max_value=2**63 - 1), st.floats(min_value=0, max_value=2**31))
def test_client_msg_id_check_is_the_spec_window(msg_id: int, now: float) -> None:
    error = check_client_msg_id(msg_id, now)
    at = msg_id / 2**32
    if msg_id % 4:
        assert error == 18
    elif at < now - 300:
        assert error == 16
    elif at > now + 30:
        assert error == 17
    else:
        assert error is None
