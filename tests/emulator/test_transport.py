"""Server transports against the client framings written from the spec in tests/support/wire, and
against Kurigram's."""

from __future__ import annotations

import asyncio
import itertools
import os
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrogram.connection.proxy import MTProxy
from pyrogram.connection.transport import tcp

from tests.support.wire import (
    OBFUSCATED_TAGS,
    TRANSPORTS,
    AbridgedFraming,
    FullFraming,
    IntermediateFraming,
    ObfuscatedFraming,
    PaddedIntermediateFraming,
    make_framing,
    read_all,
)
from tgemu.transport import (
    MAX_PAYLOAD,
    AbridgedCodec,
    Codec,
    FullCodec,
    IntermediateCodec,
    ObfuscatedCodec,
    PaddedIntermediateCodec,
    TransportDetector,
    TransportError,
    transport_error,
)

# --- helpers ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One client's byte stream and what the server should make of it."""

    name: str
    stream: bytes
    payloads: list[bytes]
    # What the server's own frames must decode back to, for the same payloads.
    read_back: Callable[[bytes], list[bytes]]
    padded: bool = False


def fixed_padding(payload: bytes) -> bytes:
    """0-15 bytes that a test can predict (the client's own padding is random)."""
    return bytes(range(len(payload) % 16))


def build(kind: str, payloads: Sequence[bytes], acks: Sequence[bool] = ()) -> Scenario:
    framing = make_framing(kind, dc_id=2, pad=fixed_padding)
    acks = list(acks) + [False] * (len(payloads) - len(acks))
    if not framing.quick_ack:
        acks = [False] * len(payloads)
    stream = framing.opening() + b"".join(
        framing.pack(p, quick_ack=a) for p, a in zip(payloads, acks, strict=True)
    )
    # The server cannot strip padded intermediate's padding: it hands it on with the payload.
    expected = [p + fixed_padding(p) if framing.padded else p for p in payloads]
    return Scenario(
        kind, stream, expected, lambda data: read_all(framing, data), padded=framing.padded
    )


KINDS = TRANSPORTS


def receive(chunks: Sequence[bytes], secret: bytes | None = None) -> tuple[Codec, list[bytes]]:
    """Feed a connection's chunks the way a server loop would."""
    detector = TransportDetector(secret=secret)
    codec: Codec | None = None
    out: list[bytes] = []
    for chunk in chunks:
        if codec is None:
            codec = detector.feed(chunk)
            if codec is not None:
                out += codec.feed(b"")
        else:
            out += codec.feed(chunk)
    assert codec is not None
    return codec, out


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def aligned_payloads(max_words: int = 700) -> st.SearchStrategy[bytes]:
    # Up to 2800 bytes, so abridged also uses its 0x7f extended length (from 127 words).
    return st.integers(1, max_words).flatmap(lambda w: st.binary(min_size=4 * w, max_size=4 * w))


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), payloads=st.lists(aligned_payloads(), min_size=1, max_size=5))
def test_round_trip_any_chunking(kind: str, data: st.DataObject, payloads: list[bytes]) -> None:
    acks = data.draw(st.lists(st.booleans(), min_size=len(payloads), max_size=len(payloads)))
    scenario = build(kind, payloads, acks)
    cuts = data.draw(st.lists(st.integers(0, len(scenario.stream)), max_size=12))
    codec, received = receive(split(scenario.stream, cuts))
    assert codec.name == kind
    assert received == scenario.payloads

    sent = b"".join(codec.frame(p) for p in payloads)
    decoded = scenario.read_back(sent)
    if scenario.padded:
        assert len(decoded) == len(payloads)
        for got, want in zip(decoded, payloads, strict=True):
            assert got[: len(want)] == want
            assert 0 <= len(got) - len(want) <= 15
    else:
        assert decoded == payloads


@pytest.mark.parametrize("kind", KINDS)
def test_one_byte_at_a_time(kind: str) -> None:
    payloads = [os.urandom(4 * n) for n in (1, 126, 127, 128, 300)]
    scenario = build(kind, payloads, [True, False, True, False, True])
    stream = scenario.stream
    _, received = receive([stream[i : i + 1] for i in range(len(stream))])
    assert received == scenario.payloads


@pytest.mark.parametrize("kind", KINDS)
def test_large_packets(kind: str) -> None:
    payloads = [os.urandom(1 << 20), os.urandom(MAX_PAYLOAD), os.urandom(4)]
    scenario = build(kind, payloads)
    stream = scenario.stream
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    codec, received = receive(chunks)
    assert received == scenario.payloads
    if not scenario.padded:
        assert scenario.read_back(codec.frame(payloads[1])) == [payloads[1]]


def test_packets_arriving_with_the_header_are_kept() -> None:
    scenario = build("obfuscated_intermediate", [b"ping" * 5, b"pong" * 3])
    detector = TransportDetector()
    codec = detector.feed(scenario.stream)
    assert codec is not None
    assert codec.feed(b"") == scenario.payloads
    with pytest.raises(RuntimeError):
        detector.feed(b"more")


# --- quick ack -------------------------------------------------------------------------------


@pytest.mark.parametrize("words", [1, 126, 127, 5000])
def test_abridged_quick_ack_bit_is_stripped(words: int) -> None:
    payload = os.urandom(4 * words)
    packet = AbridgedFraming().pack(payload, quick_ack=True)
    assert packet[0] & 0x80
    assert AbridgedCodec().feed(packet) == [payload]


@pytest.mark.parametrize("codec_type", [IntermediateCodec, PaddedIntermediateCodec])
def test_intermediate_quick_ack_bit_is_stripped(codec_type: type[IntermediateCodec]) -> None:
    payload = os.urandom(64)
    packet = IntermediateFraming().pack(payload, quick_ack=True)
    assert packet[3] & 0x80
    assert codec_type().feed(packet) == [payload]


# --- abridged and intermediate framing --------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "header"),
    [(4, b"\x01"), (504, b"\x7e"), (508, b"\x7f\x7f\x00\x00"), (1 << 20, b"\x7f\x00\x00\x04")],
)
def test_abridged_frame_headers(size: int, header: bytes) -> None:
    payload = os.urandom(size)
    assert AbridgedCodec().frame(payload) == header + payload


def test_intermediate_frame_header() -> None:
    assert IntermediateCodec().frame(b"abcd") == b"\x04\x00\x00\x00abcd"


def test_padded_intermediate_frames_carry_up_to_15_bytes_of_padding() -> None:
    codec = PaddedIntermediateCodec()
    payload = os.urandom(40)
    paddings = set()
    for _ in range(400):
        (got,) = read_all(PaddedIntermediateFraming(), codec.frame(payload))
        assert got[:40] == payload
        paddings.add(len(got) - 40)
    assert paddings == set(range(16))


def test_padded_intermediate_accepts_unaligned_lengths() -> None:
    packet = PaddedIntermediateFraming(pad=lambda _: b"pad").pack(b"x" * 24)
    assert PaddedIntermediateCodec().feed(packet) == [b"x" * 24 + b"pad"]


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(lambda: AbridgedCodec().frame(b"abc"), id="abridged-unaligned"),
        pytest.param(lambda: IntermediateCodec().frame(b"abcde"), id="intermediate-unaligned"),
        pytest.param(lambda: FullCodec().frame(b"ab"), id="full-unaligned"),
        pytest.param(lambda: AbridgedCodec().frame(b""), id="empty"),
        pytest.param(lambda: IntermediateCodec().frame(bytes(MAX_PAYLOAD + 4)), id="oversize"),
    ],
)
def test_frame_rejects_bad_payloads(frame: Callable[[], bytes]) -> None:
    with pytest.raises(ValueError):
        frame()


# --- full transport ----------------------------------------------------------------------------


def test_full_frame_layout_and_send_seqno() -> None:
    codec = FullCodec()
    first, second = codec.frame(b"AAAA"), codec.frame(b"BBBBBBBB")
    assert first[:8] == struct.pack("<II", 16, 0)
    assert second[:8] == struct.pack("<II", 20, 1)
    assert read_all(FullFraming(), first + second) == [b"AAAA", b"BBBBBBBB"]


def test_full_rejects_bad_crc() -> None:
    packet = bytearray(FullFraming().pack(b"data" * 4))
    packet[10] ^= 1
    with pytest.raises(TransportError, match="CRC"):
        FullCodec().feed(bytes(packet))


def test_full_rejects_a_skipped_seqno() -> None:
    client = FullFraming()
    codec = FullCodec()
    assert codec.feed(client.pack(b"zero")) == [b"zero"]
    client.send_seqno += 1
    with pytest.raises(TransportError, match="seqno 2, expected 1"):
        codec.feed(client.pack(b"two!"))


def test_full_rejects_a_repeated_seqno() -> None:
    codec = FullCodec()
    codec.feed(FullFraming().pack(b"zero"))
    with pytest.raises(TransportError, match="seqno"):
        codec.feed(FullFraming().pack(b"zero"))


def test_full_rejects_first_seqno_other_than_zero() -> None:
    with pytest.raises(TransportError, match="seqno"):
        FullCodec().feed(FullFraming(seqno=1).pack(b"one!"))


# --- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec_type", "header"),
    [
        pytest.param(
            AbridgedCodec, b"\x7f" + (MAX_PAYLOAD // 4 + 1).to_bytes(3, "little"), id="abr"
        ),
        pytest.param(AbridgedCodec, b"\xff\xff\xff\xff", id="abridged-max-quick-ack"),
        pytest.param(IntermediateCodec, struct.pack("<I", MAX_PAYLOAD + 4), id="intermediate"),
        pytest.param(IntermediateCodec, b"\xff\xff\xff\x7f", id="intermediate-max"),
        pytest.param(PaddedIntermediateCodec, struct.pack("<I", MAX_PAYLOAD + 1), id="padded"),
        pytest.param(FullCodec, struct.pack("<II", MAX_PAYLOAD + 16, 0), id="full"),
    ],
)
def test_oversize_rejected_from_the_header_alone(codec_type: type[Codec], header: bytes) -> None:
    with pytest.raises(TransportError, match="limit"):
        codec_type().feed(header)


@pytest.mark.parametrize(
    ("codec_type", "header"),
    [
        pytest.param(AbridgedCodec, b"\x7f" + (MAX_PAYLOAD // 4).to_bytes(3, "little"), id="abr"),
        pytest.param(IntermediateCodec, struct.pack("<I", MAX_PAYLOAD), id="intermediate"),
        pytest.param(FullCodec, struct.pack("<II", MAX_PAYLOAD + 12, 0), id="full"),
    ],
)
def test_exactly_max_payload_is_accepted(codec_type: type[Codec], header: bytes) -> None:
    assert codec_type().feed(header) == []


@pytest.mark.parametrize(
    ("codec_type", "packet"),
    [
        pytest.param(IntermediateCodec, struct.pack("<I", 5) + b"12345", id="intermediate"),
        pytest.param(FullCodec, struct.pack("<II", 17, 0) + b"12345" + bytes(4), id="full"),
    ],
)
def test_unaligned_lengths_rejected(codec_type: type[Codec], packet: bytes) -> None:
    with pytest.raises(TransportError, match="multiple of 4"):
        codec_type().feed(packet)


@pytest.mark.parametrize(
    ("codec_type", "packet"),
    [
        pytest.param(AbridgedCodec, b"\x00", id="abridged"),
        pytest.param(AbridgedCodec, b"\x7f\x00\x00\x00", id="abridged-extended"),
        pytest.param(IntermediateCodec, bytes(4), id="intermediate"),
        pytest.param(FullCodec, struct.pack("<III", 12, 0, 0), id="full"),
    ],
)
def test_empty_packets_rejected(codec_type: type[Codec], packet: bytes) -> None:
    with pytest.raises(TransportError):
        codec_type().feed(packet)


# --- obfuscation -------------------------------------------------------------------------------


@pytest.mark.parametrize("inner", list(OBFUSCATED_TAGS))
@pytest.mark.parametrize("dc_id", [1, 2, -4, 10005])
def test_obfuscated_inner_tag_and_dc_id(inner: str, dc_id: int) -> None:
    client = make_framing(f"obfuscated_{inner}", dc_id)
    codec = TransportDetector().feed(client.opening())
    assert isinstance(codec, ObfuscatedCodec)
    assert codec.dc_id == dc_id
    assert codec.name == f"obfuscated_{inner}"
    payload = os.urandom(40)
    (echoed,) = read_all(client, codec.frame(payload))
    assert echoed[:40] == payload


def test_obfuscated_with_proxy_secret() -> None:
    secret = os.urandom(16)
    client = make_framing("obfuscated_intermediate", dc_id=-2, secret=secret)
    payload = os.urandom(64)
    stream = client.opening() + client.pack(payload)
    codec, received = receive([stream], secret=secret)
    assert isinstance(codec, ObfuscatedCodec)
    assert codec.dc_id == -2
    assert received == [payload]
    assert read_all(client, codec.frame(payload)) == [payload]


def test_obfuscated_unknown_tag_rejected() -> None:
    client = ObfuscatedFraming(IntermediateFraming(tagged=False), 2, tag=b"\x01\x02\x03\x04")
    with pytest.raises(TransportError, match="tag"):
        TransportDetector().feed(client.opening())


def test_obfuscated_codec_needs_a_64_byte_header() -> None:
    with pytest.raises(ValueError):
        ObfuscatedCodec(bytes(63))


# --- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "prefix_needed"),
    [
        ("abridged", 1),
        ("intermediate", 4),
        ("padded_intermediate", 4),
        ("full", 8),
        ("obfuscated_abridged", 64),
        ("obfuscated_intermediate", 64),
        ("obfuscated_padded_intermediate", 64),
    ],
)
def test_detection_waits_for_just_enough_bytes(kind: str, prefix_needed: int) -> None:
    scenario = build(kind, [b"\x07" * 32])
    detector = TransportDetector()
    for byte in scenario.stream[: prefix_needed - 1]:
        assert detector.feed(bytes((byte,))) is None
    codec = detector.feed(scenario.stream[prefix_needed - 1 : prefix_needed])
    assert codec is not None
    assert codec.name == kind
    assert codec.feed(scenario.stream[prefix_needed:]) == scenario.payloads


@pytest.mark.parametrize(
    "opening",
    [
        b"GET / HTTP/1.1\r\n",
        b"POST /api HTTP/1.1\r\n",
        b"HEAD / HTTP/1.1\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
    ],
)
def test_http_rejected(opening: bytes) -> None:
    with pytest.raises(TransportError, match="http transport not supported"):
        TransportDetector().feed(opening)


def test_fake_tls_rejected() -> None:
    with pytest.raises(TransportError, match="fake-tls"):
        TransportDetector().feed(b"\x16\x03\x01\x02\x00" + bytes(59))


@pytest.mark.parametrize(
    "first_word",
    [
        pytest.param(struct.pack("<I", 12), id="no-payload"),
        pytest.param(struct.pack("<I", 18), id="unaligned"),
        pytest.param(struct.pack("<I", MAX_PAYLOAD + 16), id="oversize"),
        pytest.param(os.urandom(2) + b"\xff\xff", id="huge"),
    ],
)
def test_zero_seqno_with_implausible_length_rejected(first_word: bytes) -> None:
    with pytest.raises(TransportError):
        TransportDetector().feed(first_word + bytes(4) + os.urandom(56))


def test_garbage_with_unknown_tag_rejected_at_64_bytes() -> None:
    detector = TransportDetector()
    header = b"\x01\x02\x03\x04\x05\x06\x07\x08" + bytes(56)
    assert detector.feed(header[:63]) is None
    with pytest.raises(TransportError):
        detector.feed(header[63:])


# --- transport errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "wire"),
    [(404, b"\x6c\xfe\xff\xff"), (429, b"\x53\xfe\xff\xff"), (444, b"\x44\xfe\xff\xff")],
)
def test_transport_error_payload(code: int, wire: bytes) -> None:
    assert transport_error(code) == wire
    assert int.from_bytes(wire, "little", signed=True) == -code
    assert AbridgedCodec().frame(transport_error(code)) == b"\x01" + wire
    assert read_all(FullFraming(), FullCodec().frame(transport_error(code))) == [wire]


def test_transport_error_code_must_be_positive() -> None:
    with pytest.raises(ValueError):
        transport_error(-404)


# --- Kurigram's own client transports over loopback ----------------------------------------------


@dataclass
class EchoServer:
    port: int
    codecs: list[Codec]


@asynccontextmanager
async def echo_server(secret: bytes | None = None) -> AsyncIterator[EchoServer]:
    codecs: list[Codec] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        detector = TransportDetector(secret=secret)
        codec: Codec | None = None
        try:
            while data := await reader.read(65536):
                if codec is None:
                    codec = detector.feed(data)
                    if codec is None:
                        continue
                    codecs.append(codec)
                    data = b""
                for payload in codec.feed(data):
                    if codec.name.endswith("padded_intermediate"):
                        # What an MTProto layer does: it knows an encrypted message's size.
                        payload = payload[: len(payload) - (len(payload) - 24) % 16]
                    writer.write(codec.frame(payload))
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield EchoServer(server.sockets[0].getsockname()[1], codecs)
    finally:
        server.close()
        await server.wait_closed()


def mtproto_like_payload(size: int) -> bytes:
    # Non-zero auth_key_id and a 24 + 16k size: how Kurigram's padded-intermediate reader
    # recognises an encrypted message, whose trailing padding it then drops.
    return b"\x01" * 8 + os.urandom(size - 8)


SIZES = (24 + 16, 24 + 16 * 40, 24 + 16 * 65536)


async def exchange(client: tcp.TCP, address: tuple[str, int]) -> None:
    try:
        await client.connect(address)
        for size in SIZES:
            payload = mtproto_like_payload(size)
            await client.send(payload)
            assert await client.recv() == payload
    finally:
        await client.close()
        client.crypto_executor.shutdown()


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        (tcp.TCPAbridged, "abridged"),
        (tcp.TCPIntermediate, "intermediate"),
        (tcp.TCPIntermediatePadded, "padded_intermediate"),
        (tcp.TCPFull, "full"),
        (tcp.TCPAbridgedO, "obfuscated_abridged"),
        (tcp.TCPIntermediateO, "obfuscated_intermediate"),
    ],
)
async def test_kurigram_transport(transport: type[tcp.TCP], expected: str) -> None:
    async with echo_server() as server:
        await exchange(transport(ipv6=False), ("127.0.0.1", server.port))
    assert [codec.name for codec in server.codecs] == [expected]


@pytest.mark.parametrize(
    ("transport", "marker", "expected"),
    [
        (tcp.TCPAbridged, b"", "obfuscated_abridged"),
        (tcp.TCPIntermediatePadded, b"\xdd", "obfuscated_padded_intermediate"),
    ],
)
async def test_kurigram_through_mtproxy_secret(
    transport: type[tcp.TCP], marker: bytes, expected: str
) -> None:
    secret = os.urandom(16)
    async with echo_server(secret=secret) as server:
        proxy = MTProxy(hostname="127.0.0.1", port=server.port, secret=marker + secret)
        await exchange(transport(ipv6=False, proxy=proxy, dc_id=-3), ("192.0.2.1", 443))
    (codec,) = server.codecs
    assert isinstance(codec, ObfuscatedCodec)
    assert (codec.name, codec.dc_id) == (expected, -3)
