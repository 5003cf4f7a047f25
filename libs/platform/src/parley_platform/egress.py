"""The egress guard: which addresses a service may connect to when an admin or a
models file, not the operator, chose the host (model providers).

Loopback, private (RFC 1918, ULA), link-local, shared (CGNAT), unspecified,
multicast, reserved and cloud metadata addresses are refused unless the
operator allows them by CIDR (`EgressPolicy.parse("127.0.0.0/8,::1")`, read
from one setting per service). IPv6 forms that carry an IPv4 address
(mapped, 6to4, NAT64) are judged by that address. Callers resolve a name
once (`resolve`), check every address, then connect to a checked one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

_METADATA = "a cloud metadata address"
_PRIVATE = "a private address"
_REFUSED: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        # The first match names the reason: the metadata addresses before their ranges.
        ("169.254.169.254/32", _METADATA),
        ("fd00:ec2::254/128", _METADATA),
        ("0.0.0.0/8", "an unspecified address"),
        ("::/128", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("::1/128", "a loopback address"),
        ("::/96", "an IPv4-compatible address"),
        ("10.0.0.0/8", _PRIVATE),
        ("172.16.0.0/12", _PRIVATE),
        ("192.168.0.0/16", _PRIVATE),
        ("fc00::/7", _PRIVATE),
        ("169.254.0.0/16", "a link-local address"),
        ("fe80::/10", "a link-local address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("192.0.0.0/24", "a special-purpose address"),
        ("224.0.0.0/4", "a multicast address"),
        ("ff00::/8", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class EgressRefused(OSError):
    """A connection the egress policy refuses; `reason` names the kind of address, never
    the address (it may be an internal one)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} is {reason}, which is not allowed (egress policy)")
        self.host = host
        self.reason = reason


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """Refuses internal addresses except those in `allowed` (the operator's CIDRs)."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> EgressPolicy:
        """Comma-separated CIDRs or addresses ("" allows nothing internal); ValueError names a
        bad entry."""
        allowed: list[Network] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            try:
                allowed.append(ipaddress.ip_network(entry, strict=False))
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not a CIDR or an IP address") from exc
        return cls(tuple(allowed))

    @classmethod
    def checked_setting(cls, text: str, *, setting: str) -> str:
        """`text` when it parses (a settings validator), else a ValueError naming `setting`."""
        try:
            cls.parse(text)
        except ValueError as exc:
            raise ValueError(f"{setting}: {exc}") from None
        return text

    @property
    def allows_everything(self) -> bool:
        """True when `allowed` covers every address (0.0.0.0/0 and ::/0): nothing to check."""
        return {(net.version, net.prefixlen) for net in self.allowed} >= {(4, 0), (6, 0)}

    def refusal(self, address: str | Address) -> str | None:
        """None when `address` may be connected to, else what kind of address it is."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            ip = ipaddress.IPv6Address(ip.compressed.split("%")[0])
        candidates: list[Address] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
            candidates.append(embedded)
        if any(c in net for c in candidates for net in self.allowed if c.version == net.version):
            return None
        for candidate in candidates:
            for network, reason in _REFUSED:
                if candidate.version == network.version and candidate in network:
                    return reason
        return None

    def check(self, host: str, addresses: list[str]) -> None:
        """Raises `EgressRefused` unless every address of `host` may be connected to."""
        if not addresses:
            raise EgressRefused(host, "a name without addresses")
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise EgressRefused(host, reason)


def ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` from the system resolver (tests replace this function)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str, policy: EgressPolicy) -> None:
    """Raises `EgressRefused` when the URL's host is, or resolves to, an address `policy`
    refuses; `socket.gaierror` when its name does not resolve. A policy that allows every
    address resolves nothing."""
    if policy.allows_everything:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = ip_literal(host)
    if literal is not None:
        reason = policy.refusal(literal)
        if reason is not None:
            raise EgressRefused(host, reason)
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    policy.check(host, await resolve(host, port))
