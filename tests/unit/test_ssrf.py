"""The host's URL checks and address policy (``sandbox/host/ssrf.py``), function by
function: the exact cause a handler sees for each refused URL or address, what a checked
URL is split into, and which allow-list entries open which addresses. No test here
resolves a real name or opens a socket (names are answered by a resolver passed in).

test_http.py covers the same policy through ``fetch`` and the broker; these pin the
edges the round-3 mutation run (docs/TESTING.md) found unpinned.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from functions_runtime.sandbox.host.ssrf import (
    ALLOW_HINT,
    NetworkPolicy,
    Target,
    normalize_host,
    parse_url,
    refusal_reason,
)
from functions_sdk.errors import FetchError, RequestBlocked, RetryError


def _no_dns(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"unexpected name lookup: {args!r}")


def _dns(answers: dict[str, list[str]]) -> Any:
    """A resolver answering ``answers`` (host -> addresses) like ``getaddrinfo``."""

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    return resolve


# --------------------------------------------------------------------------- parse_url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (b"http://h/", "URL must be a str, not bytes"),
        (None, "URL must be a str, not NoneType"),
        (
            "http://h/\x7f",
            "URL contains control characters (CR, LF, TAB, ...); percent-encode them",
        ),
        ("http://h:99999/", "invalid URL: Port out of range 0-65535"),
        ("http://[::1/", "invalid URL: Invalid IPv6 URL"),
        (
            "ftp://h/",
            "unsupported URL scheme 'ftp': only http:// and https:// URLs can be fetched",
        ),
        (
            "//h/",
            "unsupported URL scheme (none): only http:// and https:// URLs can be fetched",
        ),
        ("http:///x", "URL has no host"),
        ("http://h:0/", "URL port 0 is not valid"),
        ("http://exa mple.com/", "invalid host name 'exa mple.com'"),
    ],
)
def test_refused_urls_say_why(url: Any, message: str) -> None:
    with pytest.raises(FetchError) as caught:
        parse_url(url)
    assert type(caught.value) is FetchError
    assert str(caught.value) == message


def test_port_one_is_a_port() -> None:
    assert parse_url("http://h:1/").port == 1


def test_a_checked_url_is_split_into_what_the_connection_needs() -> None:
    assert parse_url(" HTTPS://Us%20er:P%40w@Example.COM.:8443/a b?q=é#frag ") == Target(
        scheme="https",
        host="example.com",
        port=8443,
        request_target="/a%20b?q=%C3%A9",  # the fragment is not sent
        username="Us%20er",
        password="P%40w",
    )
    assert parse_url("http://[::1]") == Target("http", "::1", 80, "/")
    assert parse_url("https://bücher.example") == Target("https", "xn--bcher-kva.example", 443, "/")
    assert parse_url("http://h/p?") == Target("http", "h", 80, "/p")
    assert parse_url("http://h/%41?a=%20&b=[1]").request_target == "/%41?a=%20&b=[1]"


# --------------------------------------------------------------------------- normalize_host


@pytest.mark.parametrize(
    ("host", "normal"),
    [
        (" [::1] ", "::1"),
        ("[127.0.0.1]", "127.0.0.1"),
        ("[]", ""),
        ("  ", ""),
        ("Example.COM.", "example.com"),
        ("A.b-C", "a.b-c"),
        ("a_b", "a_b"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("127.0.0.1.", "127.0.0.1"),
    ],
)
def test_host_names_are_normalised(host: str, normal: str) -> None:
    assert normalize_host(host) == normal


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("a..b", "a..b"),  # IDNA refuses an empty label
        ("é" * 70, "é" * 70),  # IDNA refuses a label over 63 characters
        ("-a", "-a"),
        ("a-", "a-"),
        ("A B", "a b"),
        ("a/b", "a/b"),
        ("[a", "[a"),  # brackets are dropped only in pairs
        ("a]", "a]"),
    ],
)
def test_implausible_host_names_are_refused(host: str, shown: str) -> None:
    with pytest.raises(FetchError) as caught:
        normalize_host(host)
    assert str(caught.value) == f"invalid host name {shown!r}"


# --------------------------------------------------------------------------- refusal_reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1", None),
        ("2606:4700::1%eth0", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
        ("169.254.169.254", "link-local/metadata address"),
        ("100.100.100.200", "link-local/metadata address"),
        ("fd00:ec2::254", "link-local/metadata address"),
        ("fd00:ec2::254%eth0", "link-local/metadata address"),
        ("169.254.1.1", "link-local/metadata address"),
        ("fe80::1%eth0", "link-local/metadata address"),
        ("0.0.0.0", "unspecified address"),
        ("::", "unspecified address"),
        ("127.0.0.1", "loopback address"),
        ("::1", "loopback address"),
        ("224.0.0.1", "multicast address"),
        ("ff02::1", "multicast address"),
        ("100.64.0.1", "shared address space (100.64.0.0/10)"),
        ("100.127.255.255", "shared address space (100.64.0.0/10)"),
        ("240.0.0.1", "reserved address"),
        ("255.255.255.255", "reserved address"),
        ("::2", "reserved address"),
        ("4000::1", "reserved address"),
        ("fec0::1", "private address"),  # site-local: not in ipaddress's private list
        ("fc00::1", "private address"),
        ("10.0.0.1", "private address"),
        ("198.18.0.1", "private address"),
        ("2001:db8::1", "private address"),
        ("::ffff:10.0.0.1", "private address (IPv4-mapped 10.0.0.1)"),
        ("64:ff9b::a00:1", "private address (NAT64 10.0.0.1)"),
        ("2002:a00:1::", "private address (6to4 10.0.0.1)"),
        (
            "::ffff:169.254.169.254",
            "link-local/metadata address (IPv4-mapped 169.254.169.254)",
        ),
        ("64:ff9b::a9fe:a9fe", "link-local/metadata address (NAT64 169.254.169.254)"),
        ("2002:a9fe:a9fe::", "link-local/metadata address (6to4 169.254.169.254)"),
    ],
)
def test_each_address_kind_has_its_reason(address: str, reason: str | None) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


# --------------------------------------------------------------------------- allow lists


def _allowed(policy: NetworkPolicy, address: str, host: str | None = None) -> bool:
    return policy.permits(host or address, ipaddress.ip_address(address)) is None


def test_allow_entries_cover_their_addresses_only() -> None:
    policy = NetworkPolicy((" [::1] ", "10.0.0.1/8", "LocalHost.", "fe80::1"))
    assert _allowed(policy, "::1")
    assert _allowed(policy, "10.255.0.1")  # a host address with a prefix is its network
    assert not _allowed(policy, "192.168.0.1")
    assert not _allowed(policy, "127.0.0.1")
    assert _allowed(policy, "127.0.0.1", host="localhost")  # the name entry, normalised
    assert not _allowed(policy, "127.0.0.1", host="localhost.example")
    assert _allowed(policy, "fe80::1%eth0")  # the scope does not hide the address
    assert _allowed(policy, "::ffff:10.1.2.3")  # an IPv4 entry covers the mapped form
    assert _allowed(policy, "64:ff9b::a01:203")  # and the NAT64 one
    assert not _allowed(policy, "::ffff:192.168.0.1")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "10.0.0.0/33",
            "invalid allow-list entry '10.0.0.0/33': not an IP address or CIDR network",
        ),
        ("1.2.3", "invalid allow-list entry '1.2.3': not an IP address or CIDR network"),
        ("[::1", "invalid allow-list entry '[::1': not an IP address or CIDR network"),
        (
            "bad host",
            "invalid allow-list entry 'bad host': expected a host name, an IP address "
            "or a CIDR network",
        ),
        (
            " ",
            "invalid allow-list entry ' ': expected a host name, an IP address or a CIDR network",
        ),
    ],
)
def test_bad_allow_entries_are_named(entry: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        NetworkPolicy(("127.0.0.1", entry))
    assert str(caught.value) == message


def test_allow_list_from_a_string() -> None:
    policy = NetworkPolicy.from_string(" 10.0.0.0/8 ,, localhost,")
    assert policy.allow == ("10.0.0.0/8", "localhost")
    assert _allowed(policy, "10.0.0.1")
    assert NetworkPolicy.from_string(" , ").allow == ()
    assert NetworkPolicy.from_string(None).allow == ()


@pytest.mark.parametrize(
    ("allow", "address", "allowed"),
    [
        (("169.254.169.254",), "169.254.169.254", True),
        (("169.254.169.254/32",), "169.254.169.254", True),
        (("169.254.169.254",), "::ffff:169.254.169.254", True),
        (("::ffff:169.254.169.254",), "::ffff:169.254.169.254", True),
        (("fd00:ec2::254",), "fd00:ec2::254", True),
        (("169.254.169.254/31",), "169.254.169.254", False),
        (("169.254.0.0/16",), "169.254.169.254", False),
        (("0.0.0.0/0", "::/0"), "169.254.169.254", False),
        (("::ffff:0:0/96",), "::ffff:169.254.169.254", False),
        (("169.254.0.0/16",), "::ffff:169.254.169.254", False),
        (("169.254.0.0/16",), "64:ff9b::a9fe:a9fe", False),
        (("fd00:ec2::/32",), "fd00:ec2::254", False),
        (("fd00:ec2::/32",), "fd00:ec2::254%eth0", False),  # a scope hides nothing
        (("fd00:ec2::254",), "fd00:ec2::254%eth0", True),
        (("100.100.100.0/24",), "100.100.100.200", False),
        (("169.254.0.0/16",), "169.254.1.1", True),  # link-local but not metadata
    ],
)
def test_a_metadata_address_needs_an_entry_naming_exactly_it(
    allow: tuple[str, ...], address: str, allowed: bool
) -> None:
    assert _allowed(NetworkPolicy(allow), address) is allowed


def test_a_host_name_entry_never_opens_a_metadata_address() -> None:
    policy = NetworkPolicy(("metadata.test", "internal.test"))
    assert policy.permits("metadata.test", ipaddress.ip_address("169.254.169.254")) == (
        "link-local/metadata address"
    )
    assert policy.permits("metadata.test", ipaddress.ip_address("::ffff:169.254.169.254")) == (
        "link-local/metadata address (IPv4-mapped 169.254.169.254)"
    )
    assert policy.permits("internal.test", ipaddress.ip_address("10.0.0.5")) is None
    assert policy.permits("internal.test", ipaddress.ip_address("169.254.1.1")) is None


def test_a_remembered_verdict_is_per_host_and_address() -> None:
    policy = NetworkPolicy(("a.test",))
    ten = ipaddress.ip_address("10.0.0.1")
    assert policy.permits("a.test", ten) is None
    assert policy.permits("b.test", ten) == "private address"
    assert policy.permits("a.test", ipaddress.ip_address("127.0.0.1")) is None
    assert policy.permits("b.test", ipaddress.ip_address("127.0.0.1")) == "loopback address"
    assert policy.permits("a.test", ten) is None


# --------------------------------------------------------------------------- resolve


def test_resolve_asks_dns_once_for_tcp_and_keeps_the_allowed_addresses() -> None:
    calls: list[tuple[Any, ...]] = []
    answer = _dns({"api.test": ["10.0.0.1", "8.8.8.8", "10.0.0.1", "2606:4700::1"]})

    def resolver(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return answer(*args, **kwargs)

    assert NetworkPolicy().resolve("API.test.", 8080, resolver) == ["8.8.8.8", "2606:4700::1"]
    assert calls == [
        (("api.test", 8080), {"type": socket.SOCK_STREAM, "proto": socket.IPPROTO_TCP})
    ]
    allowed = NetworkPolicy(("10.0.0.0/8",)).resolve("api.test", 80, answer)
    assert allowed == ["10.0.0.1", "8.8.8.8", "2606:4700::1"]  # in order, once each


def test_resolve_skips_answers_that_are_not_addresses() -> None:
    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        return [
            (socket.AF_UNIX, socket.SOCK_STREAM, 0, "", ("/run/x",)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.4.4", port)),
        ]

    assert NetworkPolicy().resolve("api.test", 80, resolver) == ["8.8.4.4"]


def test_resolve_failures_say_why() -> None:
    policy = NetworkPolicy()
    with pytest.raises(RetryError) as caught:
        policy.resolve("nx.test", 80, _dns({}))
    assert str(caught.value) == "could not resolve host nx.test: Name or service not known"
    with pytest.raises(RetryError) as caught:
        policy.resolve("empty.test", 80, _dns({"empty.test": []}))
    assert str(caught.value) == "could not resolve host empty.test: no addresses"

    def bad_name(*args: Any, **kwargs: Any) -> Any:
        raise UnicodeError("label too long")

    with pytest.raises(FetchError) as refused:
        policy.resolve("x.test", 80, bad_name)
    assert type(refused.value) is FetchError
    assert str(refused.value) == "invalid host name 'x.test'"
    with pytest.raises(FetchError) as refused:
        policy.resolve(" [] ", 80, _no_dns)
    assert str(refused.value) == "URL has no host"


def test_a_refusal_names_the_host_the_first_address_and_the_way_to_allow_it() -> None:
    policy = NetworkPolicy()
    with pytest.raises(RequestBlocked) as caught:
        policy.resolve("evil.test", 80, _dns({"evil.test": ["127.0.0.1", "10.0.0.7"]}))
    assert str(caught.value) == (
        f"refused to connect to evil.test (127.0.0.1): loopback address; {ALLOW_HINT}"
    )
    with pytest.raises(RequestBlocked) as caught:
        policy.resolve("[::ffff:10.0.0.7]", 80, _no_dns)
    assert str(caught.value) == (
        "refused to connect to ::ffff:10.0.0.7: private address (IPv4-mapped 10.0.0.7); "
        f"{ALLOW_HINT}"
    )
    assert ALLOW_HINT == "set FUNCTIONS_HTTP_ALLOW or pass --allow-host to allow it"


def test_an_ip_literal_is_not_looked_up() -> None:
    assert NetworkPolicy(("10.0.0.0/8",)).resolve("10.0.0.7", 80, _no_dns) == ["10.0.0.7"]
    assert NetworkPolicy().resolve("[2606:4700::1]", 443, _no_dns) == ["2606:4700::1"]


def test_a_refused_address_stays_refused_when_asked_again() -> None:
    policy = NetworkPolicy()
    for _ in range(3):  # the first verdict is remembered: it must be the refusal
        with pytest.raises(RequestBlocked, match="private address"):
            policy.resolve("10.0.0.7", 80, _no_dns)


def test_checked_urls_are_remembered_and_refusals_are_checked_every_time() -> None:
    url = "https://hooks.example.com/v1/events?x=1"
    first = parse_url(url)
    assert parse_url(url) is first  # remembered: a Target is immutable
    assert parse_url(url + "&y=2") is not first
    for _ in range(2):
        with pytest.raises(FetchError, match="unsupported URL scheme"):
            parse_url("file:///etc/passwd")

    class Text(str):
        pass

    assert parse_url(Text(url)) == first and parse_url(Text(url)) is not first
    with pytest.raises(FetchError, match="URL must be a str, not list"):
        parse_url(["http://a.test/"])  # type: ignore[arg-type]
