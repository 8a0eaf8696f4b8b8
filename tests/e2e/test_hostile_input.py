"""Hostile HTTP input against one real server (issue 8, part 2).

Random and near-valid Range, If-Range and If-None-Match headers, random path tokens, file
names built to break headers and HTML, forged/truncated/replayed signatures, raw malformed
requests and a schemathesis run over the served OpenAPI schema.  Whatever comes in, the answer
is a 2xx/3xx/4xx that RFC 9110 allows, the bytes served hash equal to the source, and no
response is a 5xx or carries a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import os
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tgstream import links

SECRET = "e2e-test-secret-value"  # the default of tests.support.processes.server_env
SIZE = 300 * 1024 + 7  # small enough for hypothesis to fetch whole bodies quickly

# Names built to break a header (CR/LF, quotes, semicolons), a path (slashes, dot segments),
# HTML (tags, quotes, ampersands) or a terminal (escapes), and non-ASCII names (accents,
# emoji, right-to-left text and the RTL override that spoofs extensions).  Each goes with a
# MIME type that picks one branch of the watch page (video, audio, image, download card).
NAMES: list[tuple[str, str]] = [
    ('my "quoted" name.mp4', "video/mp4"),
    ("semi;colon; filename=evil.exe", "application/octet-stream"),
    ("dir/sub/file.mkv", "video/x-matroska"),
    ("..\\..\\windows\\system32.dll", "application/octet-stream"),
    ("cr\r\nSet-Cookie: pwned=1\r\nX-Injected: 1.txt", "text/plain"),
    ("nul\x00bell\x07esc\x1b[31mred\x7f.bin", "application/octet-stream"),
    ('<script>alert("x")</script>.mp4', "video/mp4"),
    ('"><img src=x onerror=alert(1)>.png', "image/png"),
    ("tag</title><script>alert(1)</script>&amp;.mp3", "audio/mpeg"),
    ("café déjà vu ñ.txt", "text/plain"),
    ("🎬 movie 🍿 ✨.webm", "video/webm"),
    ("שלום עולם.mp3", "audio/mpeg"),
    ("invoice\u202egpj.exe", "application/octet-stream"),
    ("..", "application/octet-stream"),
    (".", "application/octet-stream"),
    ("  padded  ", "application/octet-stream"),
    ("%2e%2e%2fpercent%00.bin", "application/octet-stream"),
    ("?query#frag&sig=forged.bin", "application/octet-stream"),
    ("long-" + "é🎬" * 120 + ".bin", "application/octet-stream"),
]

COUNTS: Counter[str] = Counter()
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Posted:
    message_id: int
    data: bytes = field(repr=False)
    name: str
    mime: str


@dataclass(frozen=True)
class Site:
    server: ServerProcess
    client: httpx.Client
    small: Posted  # file A: random bytes, the one hypothesis fetches
    other: Posted  # file B: a second file, for replayed signatures
    named: list[Posted]
    etag: str
    last_modified: str

    def dl(self, posted: Posted, name: str | None = None) -> str:
        return self.server.url + links.download_path(
            posted.message_id, posted.name if name is None else name, SECRET
        )

    def watch(self, posted: Posted) -> str:
        return self.server.url + links.watch_path(posted.message_id, posted.name, SECRET)

    def raw(self, method: str, raw_path: bytes) -> httpx.Response:
        """A request whose target goes out byte for byte, but for dot segments: httpx
        resolves those ("/dl/../" goes out as "/")."""
        url = httpx.URL(self.server.url).copy_with(raw_path=raw_path)
        return sane(self.client.request(method, url))


def sane(response: httpx.Response) -> httpx.Response:
    """Whatever was asked: no 5xx, no traceback, and an error body is the JSON error object."""
    COUNTS["requests"] += 1
    assert response.status_code < 500, (response.request.url, response.text[:300])
    assert b"Traceback" not in response.content
    if response.status_code >= 400 and response.request.method != "HEAD":
        assert b'File "' not in response.content
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"], str)
    return response


@pytest.fixture(scope="module")
def site(
    emulator: EmulatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Site]:
    emulator.reset()
    small_data = os.urandom(SIZE)
    small = Posted(
        emulator.post_to_channel(small_data, dc=2, file_name="small.bin")["message_id"],
        small_data,
        "small.bin",
        "application/octet-stream",
    )
    other_data = os.urandom(4096)
    other = Posted(
        emulator.post_to_channel(other_data, dc=4, file_name="other.bin")["message_id"],
        other_data,
        "other.bin",
        "application/octet-stream",
    )
    named = []
    for index, (name, mime) in enumerate(NAMES):
        data = os.urandom(1000 + index * 37)
        posted = emulator.post_to_channel(data, dc=2, file_name=name, mime_type=mime)
        named.append(Posted(posted["message_id"], data, name, mime))

    base = tmp_path_factory.mktemp("hostile")
    started: list[ServerProcess] = []
    server = new_server(started, emulator, base, "hostile")
    client = httpx.Client(timeout=60)
    try:
        head = client.head(server.url + links.download_path(small.message_id, "x", SECRET))
        assert head.status_code == 200
        yield Site(
            server, client, small, other, named, head.headers["etag"], head.headers["last-modified"]
        )
    finally:
        client.close()
        server.stop()
        figures = ", ".join(f"{key}={value}" for key, value in sorted(COUNTS.items()))
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if capture is not None and reporter is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"\ntest_hostile_input figures: {figures}")


# --------------------------------------------------------------------------- Range


@dataclass(frozen=True)
class Expect:
    """What a Range request must get: the full body (200), one slice (206) or 416."""

    kind: str  # "full" | "slice" | "416"
    start: int = 0
    end: int = 0


FULL = Expect("full")
UNSATISFIABLE = Expect("416")


def check_body(site: Site, response: httpx.Response, expect: Expect | None = None) -> None:
    """The response is a correct answer per RFC 9110 §14/§15: the full representation with
    200, exactly the slice named by Content-Range with 206, or 416 with ``bytes */size``."""
    data, size = site.small.data, len(site.small.data)
    head = response.request.method == "HEAD"
    status = response.status_code
    assert status in (200, 206, 416), (status, response.text[:200])
    if expect is not None:
        wanted = {"full": 200, "slice": 206, "416": 416}[expect.kind]
        assert status == wanted, (response.request.headers, status, expect)
    if status == 200:
        assert "content-range" not in response.headers
        assert response.headers["content-length"] == str(size)
        assert head or sha(response.content) == sha(data)
        COUNTS["full bodies verified"] += not head
    elif status == 206:
        match = re.fullmatch(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)", response.headers["content-range"])
        assert match, response.headers["content-range"]
        first, last, total = int(match[1]), int(match[2]), int(match[3])
        assert total == size and 0 <= first <= last < size
        if expect is not None:
            assert (first, last) == (expect.start, expect.end)
        assert response.headers["content-length"] == str(last - first + 1)
        assert head or sha(response.content) == sha(data[first : last + 1])
        COUNTS["partial bodies verified"] += not head
    else:
        assert response.headers["content-range"] == f"bytes */{size}"
    assert response.headers["accept-ranges"] == "bytes"
    if head:
        assert response.content == b""


def get_and_head(site: Site, headers: dict[str, Any], expect: Expect | None) -> None:
    url = site.dl(site.small)
    get = sane(site.client.get(url, headers=headers))
    check_body(site, get, expect)
    head = sane(site.client.head(url, headers=headers))
    check_body(site, head, expect)
    assert head.status_code == get.status_code
    for name in ("content-length", "content-range", "etag", "content-type"):
        assert head.headers.get(name) == get.headers.get(name)


# Bytes a client may put in a field value (VCHAR, obs-text, inner SP/HTAB; RFC 9110 §5.5),
# weighted toward the characters a Range header is made of.
_RANGE_BYTES = st.one_of(
    st.sampled_from(list(b"bytes=-,0123456789 \t")),
    st.sampled_from(list(b"BYTESbyte=-,*;/+.")),
    st.integers(0x21, 0x7E),
    st.integers(0x80, 0xFF),
)
random_range_values = st.lists(_RANGE_BYTES, max_size=60).map(lambda xs: bytes(xs).strip(b" \t"))


@settings(SETTINGS, max_examples=300)
@given(value=random_range_values)
def test_random_range_strings(site: Site, value: bytes) -> None:
    COUNTS["range: random values"] += 1
    get_and_head(site, {"Range": value}, None)


@st.composite
def near_valid_ranges(draw: st.DrawFn) -> tuple[bytes, Expect]:
    """A Range value one edit away from (or exactly) valid, with its RFC 9110 outcome.

    The outcome follows §14.1-§14.2 and the policy tgstream documents where the RFC leaves a
    choice: an invalid or multi-range header is ignored (200), one satisfiable range is served
    (206) and one well-formed unsatisfiable range gets 416.
    """
    size = SIZE

    def number() -> tuple[str, int]:
        value = draw(
            st.one_of(
                st.integers(0, 64),
                st.integers(0, size - 1),
                st.integers(0, size - 1),
                st.integers(size - 3, size + 3),
                st.integers(10**18, 10**60),
            )
        )
        zeros = "0" * draw(st.sampled_from([0, 0, 0, 1, 5]))
        return zeros + str(value), value

    def spec() -> tuple[str, Expect | None]:
        """One range-spec and its outcome on its own; None means syntactically invalid."""
        kind = draw(st.sampled_from(["closed", "closed", "open", "suffix", "suffix", "garbage"]))
        if kind == "closed":
            (a_text, a), (b_text, b) = number(), number()
            if b < a:
                return f"{a_text}-{b_text}", None  # §14.1.1: last-pos < first-pos is invalid
            if a >= size:
                return f"{a_text}-{b_text}", UNSATISFIABLE
            return f"{a_text}-{b_text}", Expect("slice", a, min(b, size - 1))
        if kind == "open":
            a_text, a = number()
            return f"{a_text}-", (UNSATISFIABLE if a >= size else Expect("slice", a, size - 1))
        if kind == "suffix":
            n_text, n = number()
            if n == 0:
                return f"-{n_text}", UNSATISFIABLE  # suffix 0 selects nothing
            return f"-{n_text}", Expect("slice", max(size - n, 0), size - 1)
        a_text, _ = number()
        garbage = draw(
            st.sampled_from(
                [
                    f"-{a_text}-",
                    f"--{a_text}",
                    f"+{a_text}-",
                    f"{a_text}",
                    f"{a_text}-+5",
                    f"{a_text}--1",
                    f"{a_text} - 9",
                    f"{a_text}-0x10",
                    "-",
                    "-\u2212" + a_text,  # U+2212 MINUS SIGN
                    "\u0663-\u0665",  # Arabic-Indic digits are not DIGIT
                    f"{a_text}-{a_text}.5",
                    f"{a_text}e3-",
                    "*",
                ]
            )
        )
        return garbage, None

    count = draw(st.sampled_from([1, 1, 1, 1, 2, 3]))
    specs = [spec() for _ in range(count)]
    gaps = [
        draw(st.sampled_from([",", ", ", " ,", ",\t", " , ", ",,", ", ,"]))
        for _ in range(count - 1)
    ]
    body = specs[0][0] + "".join(gap + text for gap, (text, _) in zip(gaps, specs[1:], strict=True))
    lead = draw(st.sampled_from(["", "", "", ",", ", "]))  # empty leading elements (§5.6.1)
    tail = draw(st.sampled_from(["", "", "", ",", " ,"]))
    unit = draw(st.sampled_from(["bytes", "bytes", "bytes", "BYTES", "Bytes", "bYtEs"]))
    form = draw(st.sampled_from(["plain"] * 6 + ["other-unit", "no-unit", "space-eq", "eq-space"]))
    value = f"{unit}={lead}{body}{tail}"
    expect: Expect | None
    if form == "other-unit":
        unit = draw(st.sampled_from(["items", "bits", "none", "byte", "bytess"]))
        value, expect = f"{unit}={lead}{body}{tail}", FULL  # §14.2: unknown unit is ignored
    elif form == "no-unit":
        value, expect = body, FULL  # no "bytes=": not a ranges-specifier
    elif form == "space-eq":
        value, expect = f"{unit} ={body}", FULL  # no OWS between the unit and "="
    elif form == "eq-space":
        value, expect = f"{unit}= {body}", FULL  # nor between "=" and the range-set
    elif count > 1:
        expect = FULL  # §14.2: a server MAY ignore Range; tgstream serves one range only
    else:
        expect = specs[0][1] or FULL  # an invalid ranges-specifier is ignored
    return value.encode(), expect


@settings(SETTINGS, max_examples=400)
@given(case=near_valid_ranges())
def test_near_valid_ranges(site: Site, case: tuple[bytes, Expect]) -> None:
    value, expect = case
    COUNTS["range: near-valid values"] += 1
    get_and_head(site, {"Range": value}, expect)


def test_range_edge_cases_by_hand(site: Site) -> None:
    size = SIZE
    cases: list[tuple[str, Expect]] = [
        ("bytes=0-0", Expect("slice", 0, 0)),
        (f"bytes={size - 1}-", Expect("slice", size - 1, size - 1)),
        (f"bytes={size}-", UNSATISFIABLE),
        (f"bytes={size}-{size + 10}", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=-000", UNSATISFIABLE),
        (f"bytes=-{size}", Expect("slice", 0, size - 1)),
        (f"bytes=-{10**100}", Expect("slice", 0, size - 1)),
        (f"bytes=0-{10**100}", Expect("slice", 0, size - 1)),
        (f"bytes={10**100}-", UNSATISFIABLE),
        ("bytes=" + "9" * 5000 + "-", UNSATISFIABLE),  # past CPython's int() digit limit
        ("bytes=5-4", FULL),
        ("bytes=-5-", FULL),
        ("bytes=0-1,2-3", FULL),
        (f"bytes={size}-,{size + 1}-", FULL),
        ("bytes=,,0-9,,", Expect("slice", 0, 9)),
        ("bytes=", FULL),
        ("bytes=,", FULL),
        ("=0-9", FULL),
        ("0-9", FULL),
        ("bytes 0-9/10", FULL),
        ("bytes=0-9;q=1", FULL),
        ("bytes=1-2,", Expect("slice", 1, 2)),
        ("bytes=1-2 ,\t,", Expect("slice", 1, 2)),
        ("BYTES=-1", Expect("slice", size - 1, size - 1)),
    ]
    for value, expect in cases:
        COUNTS["range: hand-picked values"] += 1
        get_and_head(site, {"Range": value}, expect)


# --------------------------------------------------------------------------- If-Range


@st.composite
def if_range_cases(draw: st.DrawFn, site: Site) -> tuple[dict[str, Any], Expect]:
    size = SIZE
    first = draw(st.integers(0, size + 10))
    last = draw(st.integers(first, size + 20))
    range_expect = UNSATISFIABLE if first >= size else Expect("slice", first, min(last, size - 1))
    opaque = site.etag.strip('"')
    when = parsedate_to_datetime(site.last_modified).timestamp()
    kind = draw(
        st.sampled_from(
            ["etag", "date", "weak", "stale-etag", "stale-date", "other-format", "garbage"]
        )
    )
    validator: str | bytes
    if kind == "etag":
        validator = site.etag
    elif kind == "date":
        validator = site.last_modified
    elif kind == "weak":
        validator = f"W/{site.etag}"  # §13.1.5: a weak tag never matches
    elif kind == "stale-etag":
        validator = draw(
            st.sampled_from(
                [
                    f'"{opaque}0"',
                    f'"{opaque[:-1]}"',
                    f'"{opaque.upper()}"',
                    opaque,
                    f'"{opaque}", {site.etag}',
                    '""',
                    f"'{opaque}'",
                ]
            )
        )
    elif kind == "stale-date":
        delta = draw(st.sampled_from([-86400, -1, 1, 3600]))
        validator = formatdate(when + delta, usegmt=True)
    elif kind == "other-format":
        # The same instant spelled another way: not an exact match (§13.1.5); 200 is always
        # allowed, a 206 would be too, so either is accepted below.
        validator = formatdate(when, usegmt=False)
    else:
        validator = draw(random_range_values.filter(lambda v: len(v) > 0))
    headers = {"Range": f"bytes={first}-{last}", "If-Range": validator}
    if kind in ("etag", "date"):
        return headers, range_expect
    if kind == "other-format":
        return headers, Expect("any")
    return headers, FULL


@settings(SETTINGS, max_examples=120)
@given(data=st.data())
def test_if_range(site: Site, data: st.DataObject) -> None:
    headers, expect = data.draw(if_range_cases(site))
    COUNTS["if-range: cases"] += 1
    get_and_head(site, headers, None if expect.kind == "any" else expect)
    # If-Range without Range is ignored (§13.1.5).
    alone = sane(site.client.get(site.dl(site.small), headers={"If-Range": headers["If-Range"]}))
    check_body(site, alone, FULL)


# --------------------------------------------------------------------------- If-None-Match


@st.composite
def if_none_match_cases(draw: st.DrawFn, site: Site) -> tuple[bytes, bool]:
    """A list of entity-tags (§13.1.2) and whether it matches under the weak comparison."""
    opaque = site.etag.strip('"')
    if draw(st.integers(0, 9)) == 0:
        return b"*", True
    tags = draw(
        st.lists(
            st.one_of(
                st.just(site.etag),
                st.just(f"W/{site.etag}"),
                st.sampled_from([f'"{opaque}x"', f'"{opaque[1:]}"', f'W/"{opaque.upper()}"', '""']),
                st.text(st.characters(min_codepoint=0x23, max_codepoint=0x7E), max_size=20).map(
                    lambda t: f'"{t}"'
                ),
                st.text(st.characters(min_codepoint=0x23, max_codepoint=0x7E), max_size=10).map(
                    lambda t: f'W/"{t}"'
                ),
                st.just('"a,b"'),  # a comma inside a tag is not a separator
            ),
            min_size=1,
            max_size=5,
        )
    )
    seps = [draw(st.sampled_from([",", ", ", " ,\t", ", ,"])) for _ in tags[1:]]
    value = tags[0] + "".join(sep + tag for sep, tag in zip(seps, tags[1:], strict=True))
    matches = any(tag in (site.etag, f"W/{site.etag}") for tag in tags)
    return value.encode(), matches


def check_conditional(site: Site, response: httpx.Response, matched: bool | None) -> None:
    if matched is not None:
        assert response.status_code == (304 if matched else 200), response.request.headers
    if response.status_code == 304:
        # §15.4.5: no content, but the validators and caching fields a 200 would carry.
        assert response.content == b""
        assert response.headers["etag"] == site.etag
        assert "cache-control" in response.headers
        assert response.headers.get("content-length", "0") == "0"
        COUNTS["if-none-match: 304"] += 1
    else:
        check_body(site, response, FULL)


@settings(SETTINGS, max_examples=120)
@given(data=st.data())
def test_if_none_match(site: Site, data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        value, matched = data.draw(if_none_match_cases(site))
        expect: bool | None = matched
    else:
        value, expect = data.draw(random_range_values), None
        if not value:
            expect = False
    COUNTS["if-none-match: cases"] += 1
    url = site.dl(site.small)
    headers: dict[bytes, bytes] = {b"If-None-Match": value}
    for method in ("GET", "HEAD"):
        response = sane(site.client.request(method, url, headers=headers))
        check_conditional(site, response, expect)
    # If-None-Match is evaluated before Range (§13.2.2): a match is 304 even for a range.
    ranged = sane(site.client.get(url, headers={**headers, b"Range": b"bytes=0-99"}))
    if expect is not None:
        assert (ranged.status_code == 304) == expect
    if ranged.status_code == 304:
        assert ranged.content == b"" and ranged.headers["etag"] == site.etag
    else:
        check_body(site, ranged, Expect("slice", 0, 99))


# --------------------------------------------------------------------------- path tokens

_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "%?#/")
raw_segment = st.one_of(
    st.text(max_size=40).map(lambda t: quote(t, safe="", errors="surrogatepass")),
    st.text(st.sampled_from(_URL_SAFE), max_size=40),
    st.lists(
        st.sampled_from(["%", "%z", "%zz", "%00", "%2F", "%2f", "%C3", "%ff", "%2e%2e", ".."]),
        max_size=6,
    ).map("".join),
    st.integers(-(10**30), 10**30).map(str),
    st.integers(1, 5).map(lambda n: "a" * (1000 * n)),
)
raw_sig = st.one_of(
    raw_segment,
    st.text(st.sampled_from("ABCDEFabcdef0123456789-_=+/"), min_size=40, max_size=46),
)


@settings(SETTINGS, max_examples=300)
@given(
    route=st.sampled_from(["dl", "watch"]),
    method=st.sampled_from(["GET", "HEAD"]),
    ident=st.one_of(raw_segment, st.integers(1, 2**31 - 1).map(str)),
    name=raw_segment,
    sig=st.one_of(st.none(), raw_sig),
    extra=st.sampled_from(["", "&download=1", "&download=maybe", "&sig=", "&x=%ff"]),
)
def test_random_path_tokens(
    site: Site, route: str, method: str, ident: str, name: str, sig: str | None, extra: str
) -> None:
    COUNTS["path: random tokens"] += 1
    query = "" if sig is None else f"?sig={sig}{extra}"
    raw_path = f"/{route}/{ident}/{name}{query}".encode()
    response = site.raw(method, raw_path)
    if response.status_code == 307:
        # Starlette's trailing-slash redirect: harmless if it stays on this server and leads
        # nowhere either.
        location = httpx.URL(response.headers["location"])
        assert (location.host, location.port) == ("127.0.0.1", site.server.port)
        COUNTS["path: redirects followed"] += 1
        response = site.raw(method, location.raw_path)
    if response.request.url.path == "/":
        # httpx resolves dot segments even in a raw path ("/dl/../?sig=" goes out as
        # "/?sig="): that asked for the landing page, which is there for anyone.
        COUNTS["path: resolved to the landing page"] += 1
        assert response.status_code == 200
        return
    # No signature of ours can come out of random text, so nothing may be served; HEAD is
    # answered wherever GET is (RFC 9110 section 9.1), so never 405 either.
    assert response.status_code in (400, 403, 404), (raw_path[:200], response.status_code)


def test_head_is_answered_wherever_get_is(site: Site) -> None:
    """RFC 9110 section 9.1: HEAD gets GET's status and headers, and no body, on the wire."""
    for url in (
        site.server.url + "/",
        site.server.url + "/healthz",
        site.server.url + "/status",
        site.watch(site.small),
        site.dl(site.small),
    ):
        for accept in ("text/html", "application/json"):
            got = site.client.get(url, headers={"Accept": accept})
            request = (
                f"HEAD {httpx.URL(url).raw_path.decode()} HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
            )
            # Read to the server's close: a body sent after the head would show here.
            with socket.create_connection(("127.0.0.1", site.server.port), timeout=20) as sock:
                sock.sendall(request.encode())
                reply = b"".join(iter(lambda: sock.recv(65536), b""))
            head, _, body = reply.partition(b"\r\n\r\n")
            assert int(head.split(b" ", 2)[1]) == got.status_code == 200, (url, head[:200])
            assert body == b""
            fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
            assert fields[b"content-type"].decode() == got.headers["content-type"]
            if url.endswith("/status"):
                continue  # its figures move between the two requests
            assert int(fields[b"content-length"]) == len(got.content), url


# --------------------------------------------------------------------------- file names

_ATTR_CHAR = r"[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2}"
_DISPOSITION = re.compile(
    rf'(inline|attachment); filename="([\x20\x21\x23-\x5b\x5d-\x7e]*)"; '
    rf"filename\*=UTF-8''((?:{_ATTR_CHAR})+)"
)


class PageScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.h1 = ""
        self.title = ""
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "h1":
            self.h1 += data
        if self._in and self._in[-1] == "title":
            self.title += data


def test_hostile_file_names(site: Site) -> None:
    for posted in site.named:
        name = posted.name
        # The name is not signed, so the link the bot would send for it must work as is.
        link = site.dl(posted)
        for attachment in (False, True):
            url = link + ("&download=1" if attachment else "")
            response = sane(site.client.get(url))
            assert response.status_code == 200, (name, response.text[:200])
            assert sha(response.content) == sha(posted.data)
            COUNTS["names: bodies verified"] += 1
            raw_headers = response.headers.raw
            # One header per field: nothing smuggled in through CR/LF in the name.
            names_sent = [key.lower() for key, _ in raw_headers]
            assert b"set-cookie" not in names_sent and b"x-injected" not in names_sent
            assert names_sent.count(b"content-disposition") == 1
            value = response.headers["content-disposition"]
            assert all(0x20 <= ord(ch) < 0x7F for ch in value), value
            match = _DISPOSITION.fullmatch(value)
            assert match, value
            assert match[1] == ("attachment" if attachment else "inline")
            # RFC 8187: the exact name (path separators made inert, outer blanks trimmed).
            shown = unquote(match[3], errors="strict")
            assert shown == name.replace("/", "_").replace("\\", "_").strip()
            assert "/" not in match[2] and "\\" not in match[2]
        head = sane(site.client.head(link))
        assert head.status_code == 200 and head.headers["content-length"] == str(len(posted.data))

        page = sane(site.client.get(site.watch(posted)))
        assert page.status_code == 200, (name, page.text[:200])
        assert page.headers["content-type"].startswith("text/html")
        scan = PageScan()
        scan.feed(page.text)
        scan.close()
        tags = [tag for tag, _ in scan.tags]
        # The page's own tags and nothing from the name: one script (the page's), no img
        # unless this is an image, no handler attributes anywhere.
        assert tags.count("script") == 1, name
        assert [attrs.get("src") for tag, attrs in scan.tags if tag == "script"] == [
            "/static/watch.js"
        ]
        assert tags.count("img") == (1 if posted.mime.startswith("image/") else 0), name
        assert not any(key.startswith("on") for _, attrs in scan.tags for key in attrs), name
        assert scan.h1 == name, (scan.h1, name)
        assert html.escape(name) in page.text
        expected_src = links.download_path(posted.message_id, name, SECRET)
        players = [attrs for tag, attrs in scan.tags if tag in ("video", "audio", "img")]
        for attrs in players:
            assert attrs["src"] == expected_src
        download = [attrs for tag, attrs in scan.tags if tag == "a"]
        assert download and download[0]["href"] == f"{expected_src}&download=1"
        COUNTS["names: watch pages checked"] += 1


# --------------------------------------------------------------------------- signatures


def sig_variants(site: Site) -> list[tuple[str, int, str]]:
    """(why, message id, sig) triples that must all be refused with 403."""
    a, b = site.small.message_id, site.other.message_id
    good_a, good_b = links.sign(a, SECRET), links.sign(b, SECRET)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    out: list[tuple[str, int, str]] = []
    for pos, ch in enumerate(good_a):
        for replacement in (
            alphabet[(alphabet.index(ch) + 1) % 64],
            alphabet[63 - alphabet.index(ch)],
        ):
            if replacement != ch:
                out.append((f"flip {pos}", a, good_a[:pos] + replacement + good_a[pos + 1 :]))
    for cut in (1, 2, 10, 42):
        out.append((f"truncated by {cut}", a, good_a[:-cut]))
    out.append(("empty", a, ""))
    for tail in ("A", "=", "==", "AAAA", good_a):
        out.append((f"extended by {tail[:4]}", a, good_a + tail))
    # The same 32 MAC bytes spelled differently: the last character carries 2 spare bits.
    last = alphabet.index(good_a[-1])
    for spare in range(4):
        twin = alphabet[(last & ~3) | spare]
        if twin != good_a[-1]:
            out.append(("same bytes, other spare bits", a, good_a[:-1] + twin))
    standard = good_a.replace("-", "+").replace("_", "/")
    if standard != good_a:
        out.append(("standard base64 alphabet", a, standard))
    padded = base64.b64encode(base64.urlsafe_b64decode(good_a + "=")).decode()
    out.append(("padded standard base64", a, padded))
    if good_a.swapcase() != good_a:
        out.append(("case flipped", a, good_a.swapcase()))
    out.append(("hex of the MAC", a, base64.urlsafe_b64decode(good_a + "=").hex()))
    # Replayed for another file, both ways, and for ids that exist nowhere.
    out.append(("A's sig on B", b, good_a))
    out.append(("B's sig on A", a, good_b))
    for wrong in (a + 1, a + 1_000_000, 2**31 - 1, 1 if a != 1 else 2):
        out.append((f"A's sig on id {wrong}", wrong, good_a))
    # Signed with another secret, or without the purpose label.
    out.append(("other secret", a, links.sign(a, SECRET + "x")))
    unlabeled = hmac.new(SECRET.encode(), str(a).encode(), hashlib.sha256).digest()
    out.append(("no label", a, base64.urlsafe_b64encode(unlabeled).rstrip(b"=").decode()))
    out.append(("non-ASCII look-alike", a, good_a[:-1] + "\u0410"))
    return out


def test_forged_truncated_and_replayed_signatures(site: Site, emulator: EmulatorProcess) -> None:
    before = emulator.stats()
    variants = sig_variants(site)
    for why, message_id, sig in variants:
        COUNTS["signatures: forgeries"] += 1
        query = f"?sig={quote(sig, safe='')}"
        for route in ("dl", "watch"):
            path = f"/{route}/{message_id}/{quote(site.small.name)}{query}"
            for method in ("GET", "HEAD") if route == "dl" else ("GET",):
                response = site.raw(method, path.encode())
                assert response.status_code == 403, (why, route, method, response.status_code)
    missing = site.raw("GET", f"/dl/{site.small.message_id}/x".encode())
    assert missing.status_code == 403
    # A refused link costs Telegram nothing: no message lookup, no file request.
    after = emulator.stats()
    for dc, counters in after["dcs"].items():
        assert counters["getfile_requests"] == before["dcs"][dc]["getfile_requests"], dc
    assert after["methods"] == before["methods"]

    # Controls: the genuine links work and the cosmetic name may change freely.
    for posted in (site.small, site.other):
        for name in (posted.name, "renamed.bin", "a/b/c"):
            response = sane(site.client.get(site.dl(posted, name)))
            assert response.status_code == 200 and sha(response.content) == sha(posted.data)
    # Ids outside the signed range are rejected as malformed before any signature check.
    for ident in ("0", "-1", str(2**31), "1e3", "0x10", ""):
        response = site.raw("GET", f"/dl/{ident}/x?sig={links.sign(1, SECRET)}".encode())
        assert response.status_code in (400, 404), ident


# --------------------------------------------------------------------------- raw requests


def raw_exchange(site: Site, request: bytes) -> bytes:
    """What the server answers to `request`.  It may answer and hang up before it has read
    all of an oversized request, and the kernel then resets the connection under our feet:
    whatever arrived before the reset is the answer (nothing: it hung up)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", site.server.port), timeout=20) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            pass
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def test_malformed_requests_on_the_wire(site: Site) -> None:
    """Bytes no well-behaved client sends: the server answers 4xx or hangs up, never 5xx."""
    path = links.download_path(site.small.message_id, "small.bin", SECRET).encode()
    host = b"Host: 127.0.0.1\r\n"
    cases = [
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Range: bytes=0-1\r\x00\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Range: bytes=0-\x001\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Range: bytes=0-1\rX: y\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Range: bytes=0-1\r\n 2-3\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"If-None-Match: \x01\x02\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Range : bytes=0-1\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Range: " + b"1" * 70000 + b"\r\n\r\n",
        b"GET /dl/1/\xff\xfe?sig=\x80 HTTP/1.1\r\n" + host + b"\r\n",
        b"GET /dl/1/a b?sig=x HTTP/1.1\r\n" + host + b"\r\n",
        b"GET " + path + b" HTTP/9.9\r\n" + host + b"\r\n",
        b"BREW " + path + b" HTTP/1.1\r\n" + host + b"\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Content-Length: -1\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS hello
    ]
    for request in cases:
        COUNTS["raw: malformed requests"] += 1
        reply = raw_exchange(site, request)
        assert b"Traceback" not in reply
        if not reply:
            COUNTS["raw: hung up"] += 1  # hanging up on garbage is a fine answer
            continue
        status = int(reply.split(b" ", 2)[1])
        assert 400 <= status < 500 or status in (200, 206), (request[:80], reply[:200])
        COUNTS[f"raw: answered {status}"] += 1
    # The server is still healthy afterwards.
    assert site.client.get(site.server.url + "/healthz").status_code == 200


# --------------------------------------------------------------------------- schemathesis


def test_schemathesis_against_the_openapi_schema(site: Site) -> None:
    """Every operation of the served schema with generated valid and invalid inputs, and the
    two link routes again with a genuine id and signature, where every input must succeed."""
    base = site.server.url
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    def run(strategy: st.SearchStrategy[Any], extra: list[Any], label: str) -> None:
        @settings(SETTINGS, max_examples=30)
        @given(case=strategy)
        def calls(case: Any) -> None:
            COUNTS["schemathesis: calls"] += 1
            COUNTS[f"schemathesis: {label} calls"] += 1
            response = case.call(base_url=base, timeout=60)
            case.validate_response(response, checks=checks + extra)
            assert b"Traceback" not in response.content

        calls()

    a = site.small
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("GET", "/dl/{message_id}/{file_name}"),
        ("HEAD", "/dl/{message_id}/{file_name}"),
        ("GET", "/watch/{message_id}/{file_name}"),
        ("GET", "/status"),
    }
    for operation in operations:
        COUNTS["schemathesis: operations"] += 1
        run(operation.as_strategy(GenerationMode.POSITIVE), [], "positive")
        if operation.path_parameters or operation.query:
            run(operation.as_strategy(GenerationMode.NEGATIVE), [], "negative")
        if "message_id" in operation.path:
            signed = operation.as_strategy(
                path_parameters={"message_id": a.message_id},
                query={"sig": links.sign(a.message_id, SECRET)},
            )
            run(signed, [positive_data_acceptance], "signed")


def test_server_logged_no_unhandled_error(site: Site) -> None:
    """Runs last: nothing above made the server log a traceback or an ASGI failure, which
    would mean an error escaped after the headers or outside the app's handlers."""
    logs = site.server.logs()
    assert "Traceback" not in logs
    assert "Exception in ASGI application" not in logs
    assert '"level": "error"' not in logs
