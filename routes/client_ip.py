"""The address a request came from, believing ``X-Forwarded-For`` only from trusted proxies.

``HUB_TRUSTED_PROXIES`` lists the reverse proxies in front of the hub. The peer of the TCP connection is
the client unless it is one of them; then the last ``X-Forwarded-For`` entry (the one that proxy
appended) is, unless that is a trusted proxy too, and so on leftwards. The first untrusted address met
is the client. Entries left of it are whatever the client chose to send, so they are never believed:
this is werkzeug's ``ProxyFix`` with a list of trusted addresses instead of a count of hops, which
stays right when a request reaches the hub past fewer proxies than usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]) -> str:
    """The client's address: ``peer``, or a hop of ``forwarded_for`` (each header's comma list) that a
    chain of trusted proxies vouches for."""
    address = parse_address(peer or "")
    if address is None:
        return peer or "unknown"
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    while hops and _is_trusted(address, trusted):
        previous = parse_address(hops.pop())
        if previous is None:  # a proxy we trust passed on something that is not an address: stop here
            break
        address = previous
    return str(address)


def parse_address(text: str) -> IPAddress | None:
    """An IP address from ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1`` or ``[2001:db8::1]:443``;
    an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``, a dual-stack socket's view) as IPv4; else None."""
    text = text.strip()
    if text.startswith("["):
        text, closed, port = text[1:].partition("]")
        if not closed or (port and not (port[0] == ":" and port[1:].isdigit())):
            return None
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
