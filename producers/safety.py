"""Which addresses the producer may connect to.

Feed URLs come from users and redirects come from servers: both can point at
the producer's own network (cloud metadata, admin ports, the Kafka broker). Every
hop's host is resolved and each address checked here; the fetcher then connects
to the checked address itself, so a second DNS answer cannot swap it
(DNS rebinding). Hosts and CIDRs in the allow-list pass (tests and the demo
allow 127.0.0.1 that way).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Anything that inet_aton would read as an IPv4 address: decimal, hex, octal, short forms.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$", re.IGNORECASE)


class RefusedAddress(Exception):
    """A host or address the producer will not connect to; the message says why."""


class ResolveError(Exception):
    """The host name did not resolve."""


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host denotes (``127.0.0.1``, ``2130706433``,
    ``0x7f000001``, ``0177.0.0.1``, ``127.1``, ``[::1]``), or None for a name."""
    host = host.strip().strip("[]").rstrip(".") if host else ""
    if not host:
        return None
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def why_refused(ip: IPAddress) -> str | None:
    """The reason an address is not public, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ip.sixtofour) or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if ip.teredo:
            embedded = ip.teredo[1]
        if embedded is not None:
            inner = why_refused(embedded)
            return f"embeds {embedded}, which is {inner}" if inner else None
    checks = (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("CGNAT (shared address space)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


@dataclass(frozen=True)
class AddressPolicy:
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_allow_list(cls, entries: Iterable[str]) -> "AddressPolicy":
        hosts, networks = set(), []
        for entry in entries:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".").strip("[]") in self.allowed_hosts

    def address_allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def check_address(self, host: str, ip: IPAddress) -> None:
        if self.host_allowed(host) or self.address_allowed(ip):
            return
        reason = why_refused(ip)
        if reason:
            raise RefusedAddress(f"{host} -> {ip} is {reason}; add it to producer.allow_hosts to allow it")

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses of ``host`` (every one must pass: a name that also
        resolves to a private address is refused as a whole)."""
        literal = numeric_host(host)
        if literal is not None:
            self.check_address(host, literal)
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolveError(f"{host}: {getattr(exc, 'strerror', None) or exc}") from None
        addresses: list[IPAddress] = []
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise ResolveError(f"{host}: no address")
        for ip in addresses:
            self.check_address(host, ip)
        return addresses
