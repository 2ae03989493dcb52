"""Where ``fetch`` may connect: URL checks and the outgoing-address policy (host side).

A handler's requests are performed by the host (``broker.py``), so an unchecked client
there would let handlers reach loopback services, the private network or the cloud
metadata endpoint (SSRF). :class:`NetworkPolicy` resolves a host once, drops every
address that is not public (unless the operator allowed it) and returns the addresses
that passed. The broker connects only to those addresses (pinning), so a second DNS
answer cannot swap in a different address (DNS rebinding). The worker never sees an
address: it sends a URL and gets an answer.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from functions_sdk.errors import FetchError, RequestBlocked, RetryError

__all__ = ["ALLOW_HINT", "NetworkPolicy", "Resolver", "Target", "parse_url"]

ALLOW_HINT = "set FUNCTIONS_HTTP_ALLOW or pass --allow-host to allow it"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[tuple[Any, ...]]]
"""``socket.getaddrinfo``'s signature (passed in, so tests can answer for DNS)."""

_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, ...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")

_HOSTNAME_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")
_IP_LIKE_RE = re.compile(r"^[0-9.]+$|:|/")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_VERDICTS = 1024  # permits() answers remembered per policy
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are in the request target; everything else (spaces,
# non-ASCII) is percent-encoded. "%" stays so existing escapes survive.
_TARGET_SAFE = "!$%&'()*+,/:;=?@[]~"


@dataclass(frozen=True)
class Target:
    """A checked ``http``/``https`` URL, split into what the connection needs."""

    scheme: str
    host: str  # ASCII (IDNA), lower case, IPv6 without brackets
    port: int
    request_target: str  # path and query, percent-encoded where needed
    username: str | None = None
    password: str | None = None


def parse_url(url: str) -> Target:
    """Check ``url`` and split it; raise :class:`FetchError` when it cannot be fetched.

    Only ``http`` and ``https`` are allowed, a host is required, control
    characters (CR, LF, TAB, NUL, ...) are refused rather than silently dropped.
    The fragment is not sent. A handler usually calls the same few URLs: the last
    :data:`_URLS` checked are remembered (a ``Target`` is immutable; refusals are not
    remembered, they are checked again).
    """
    if type(url) is str:
        return _parsed(url)
    if not isinstance(url, str):
        raise FetchError(f"URL must be a str, not {type(url).__name__}")
    return _parse(url)


_URLS = 256


@functools.lru_cache(maxsize=_URLS)
def _parsed(url: str) -> Target:
    return _parse(url)


def _parse(url: str) -> Target:
    if _CONTROL_RE.search(url):
        raise FetchError("URL contains control characters (CR, LF, TAB, ...); percent-encode them")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = repr(parts.scheme) if parts.scheme else "(none)"
        raise FetchError(
            f"unsupported URL scheme {shown}: only http:// and https:// URLs can be fetched"
        )
    host = normalize_host(parts.hostname or "")
    if not host:
        raise FetchError("URL has no host")
    if port == 0:
        raise FetchError("URL port 0 is not valid")
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    return Target(
        scheme=scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        request_target=target,
        username=parts.username,
        password=parts.password,
    )


def normalize_host(host: str) -> str:
    """Lower-case ``host``, drop IPv6 brackets and a trailing dot, IDNA-encode it.

    Raise :class:`FetchError` when the result is not a plausible host name or IP.
    Return ``""`` for an empty host.
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return ""
    if _parse_ip(host) is not None:
        return host
    host = host.rstrip(".")
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError(f"invalid host name {host!r}") from None
    if not _HOSTNAME_RE.match(ascii_host):
        raise FetchError(f"invalid host name {host!r}")
    return ascii_host


@functools.lru_cache(maxsize=256)
def _parse_ip(text: str) -> IPAddress | None:
    """The address ``text`` spells, or ``None`` (a pure function of the text, and the
    address objects are immutable: cached, since one request parses its host 3 times)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (``None`` when it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner, kind = embedded
            reason = refusal_reason(inner)
            return None if reason is None else f"{reason} ({kind} {inner})"
    if ip in _METADATA_ADDRESSES:
        return "link-local/metadata address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local/metadata address"
    if ip.is_multicast:
        return "multicast address"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in _SHARED_ADDRESS_SPACE:
            return "shared address space (100.64.0.0/10)"
        if ip.is_reserved:  # 240.0.0.0/4 (also listed as private by ipaddress)
            return "reserved address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "private address"
    if ip.is_private:
        return "private address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global:
        return "non-public address"
    return None


def _is_metadata(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return embedded[0] in _METADATA_ADDRESSES
    return ip in _METADATA_ADDRESSES


def _parse_entry(entry: str) -> IPNetwork | str:
    """One allow-list entry as a network, or a normalised host name."""
    text = entry.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if _IP_LIKE_RE.search(text):
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"invalid allow-list entry {entry!r}: not an IP address or CIDR network"
            ) from None
    try:
        name = normalize_host(text)
    except FetchError:
        name = ""
    if not name:
        raise ValueError(
            f"invalid allow-list entry {entry!r}: expected a host name, an IP address "
            "or a CIDR network"
        )
    return name


@dataclass(frozen=True)
class NetworkPolicy:
    """Which non-public destinations ``fetch`` may connect to.

    Public addresses are always allowed. Loopback, private, link-local,
    multicast, reserved, unspecified, shared (100.64.0.0/10) and cloud metadata
    addresses are refused unless an ``allow`` entry covers the host name
    (exact, case-insensitive) or the address (an IP or a CIDR network, e.g.
    ``"127.0.0.1"``, ``"10.0.0.0/8"``, ``"::1"``, ``"localhost"``).

    A cloud metadata address (169.254.169.254, fd00:ec2::254, 100.100.100.200)
    is only allowed by an entry naming exactly that IP, never by a host name or
    a wider network.
    """

    allow: tuple[str, ...] = ()
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    # permits() answers, by (host, address): a pure function of them and of this
    # immutable policy (DNS is still asked every time; only the verdict is remembered).
    _verdicts: dict[tuple[str, IPAddress], str | None] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        networks: list[IPNetwork] = []
        names: set[str] = set()
        for entry in self.allow:
            parsed = _parse_entry(entry)
            if isinstance(parsed, str):
                names.add(parsed)
            else:
                networks.append(parsed)
        object.__setattr__(self, "_networks", tuple(networks))
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_verdicts", {})

    @classmethod
    def from_string(cls, value: str | None) -> NetworkPolicy:
        """Parse a comma-separated allow list (e.g. ``FUNCTIONS_HTTP_ALLOW``).

        Blank entries are ignored; an entry that is neither a host name nor an
        IP address nor a CIDR network raises :class:`ValueError` naming it.
        """
        if not value:
            return cls()
        entries = tuple(part.strip() for part in value.split(",") if part.strip())
        return cls(entries)

    def _covers_ip(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.scope_id:
                candidates[0] = ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
            embedded = _embedded_ipv4(ip)
            if embedded is not None:
                candidates.append(embedded[0])
        metadata = _is_metadata(ip)
        for network in self._networks:
            for candidate in candidates:
                if candidate.version != network.version or candidate not in network:
                    continue
                if not metadata or network.num_addresses == 1:
                    return True
        return False

    def permits(self, host: str, ip: IPAddress) -> str | None:
        """``None`` when ``host`` may be reached at ``ip``, else the refusal reason."""
        key = (host, ip)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        verdict = self._verdict(host, ip)
        if len(self._verdicts) >= _VERDICTS:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def _verdict(self, host: str, ip: IPAddress) -> str | None:
        reason = refusal_reason(ip)
        if reason is None or self._covers_ip(ip):
            return None
        if host in self._names and not _is_metadata(ip):
            return None
        return reason

    def admits(self, host: str, address: str) -> bool:
        """Whether a connection made earlier to ``address`` for ``host`` may still
        carry a request: the verdict :meth:`resolve` would give that address today."""
        ip = _parse_ip(address)
        return ip is not None and self.permits(normalize_host(host), ip) is None

    def resolve(
        self, host: str, port: int, getaddrinfo: Resolver = socket.getaddrinfo
    ) -> list[str]:
        """Resolve ``host`` once and return the IP addresses that may be connected to.

        Raise :class:`RequestBlocked` when every address is refused and
        :class:`RetryError` when the name cannot be resolved. Connect only to
        the returned addresses: resolving again would allow DNS rebinding.
        """
        name = normalize_host(host)
        if not name:
            raise FetchError("URL has no host")
        literal = _parse_ip(name)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            except socket.gaierror as exc:
                raise RetryError(f"could not resolve host {name}: {exc.strerror}") from None
            except UnicodeError:
                raise FetchError(f"invalid host name {name!r}") from None
            addresses = []
            for _family, _type, _proto, _canon, sockaddr in infos:
                ip = _parse_ip(str(sockaddr[0]))
                if ip is not None and ip not in addresses:
                    addresses.append(ip)
            if not addresses:
                raise RetryError(f"could not resolve host {name}: no addresses")
        allowed: list[str] = []
        refused: list[tuple[IPAddress, str]] = []
        for ip in addresses:
            reason = self.permits(name, ip)
            if reason is None:
                allowed.append(str(ip))
            else:
                refused.append((ip, reason))
        if not allowed:
            ip, reason = refused[0]
            where = name if literal is not None else f"{name} ({ip})"
            raise RequestBlocked(f"refused to connect to {where}: {reason}; {ALLOW_HINT}")
        return allowed
