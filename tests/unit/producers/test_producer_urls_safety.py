"""Canonical URLs and address safety: table-driven."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from producers.safety import AddressPolicy, RefusedAddress, ResolveError, numeric_host, why_refused
from producers.text import BadURL, canonical_url


@pytest.mark.parametrize(
    "link, base, expected",
    [
        ("HTTPS://Example.COM/a/b?x=1#frag", None, "https://example.com/a/b?x=1"),
        ("http://example.com:80/", None, "http://example.com/"),
        ("https://example.com:443", None, "https://example.com/"),
        ("https://example.com:8443/x", None, "https://example.com:8443/x"),
        ("/news/1?utm_source=rss&utm_medium=feed&id=5", "https://site.example/feed", "https://site.example/news/1?id=5"),
        ("story.html", "https://site.example/section/feed.xml", "https://site.example/section/story.html"),
        ("https://a.example/p?fbclid=abc&gclid=1&mc_cid=2&mc_eid=3&keep=yes", None, "https://a.example/p?keep=yes"),
        ("https://a.example/p?UTM_Campaign=x", None, "https://a.example/p"),
        ("https://a.example/p?q=a%20b&z=%2F", None, "https://a.example/p?q=a%20b&z=%2F"),
        ("  https://a.example/p  ", None, "https://a.example/p"),
        ("//cdn.example/x", "https://site.example/", "https://cdn.example/x"),
        ("https://[2001:DB8::1]/x", None, "https://[2001:db8::1]/x"),
    ],
)
def test_canonical_url(link, base, expected):
    assert canonical_url(link, base) == expected


@pytest.mark.parametrize("link", ["", "javascript:alert(1)", "mailto:a@b.example", "ftp://x.example/", "file:///etc/passwd", "http://", "http://[::1"])
def test_bad_urls(link):
    with pytest.raises(BadURL):
        canonical_url(link)


@pytest.mark.parametrize(
    "host, expected",
    [
        ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("[::1]", "::1"),
        ("example.com", None), ("1.example", None),
    ],
)
def test_numeric_hosts(host, expected):
    result = numeric_host(host)
    assert (str(result) if result else None) == expected


@pytest.mark.parametrize(
    "address, refused",
    [
        ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"), ("100.64.0.1", "CGNAT"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("::1", "loopback"), ("fe80::1", "link-local"), ("fc00::1", "private"),
        ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"), ("8.8.8.8", None), ("93.184.216.34", None), ("2606:4700:4700::1111", None), ("::ffff:8.8.8.8", None),
    ],
)
def test_why_refused(address, refused):
    reason = why_refused(ipaddress.ip_address(address))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


def test_allow_list_by_cidr_and_host():
    policy = AddressPolicy.from_allow_list(["127.0.0.1", "10.0.0.0/8", "intranet.example"])
    policy.check_address("x", ipaddress.ip_address("127.0.0.1"))
    policy.check_address("x", ipaddress.ip_address("10.9.9.9"))
    policy.check_address("intranet.example", ipaddress.ip_address("192.168.0.5"))
    with pytest.raises(RefusedAddress):
        policy.check_address("x", ipaddress.ip_address("127.0.0.2"))
    with pytest.raises(RefusedAddress):
        policy.check_address("x", ipaddress.ip_address("192.168.0.5"))


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f000001", "localhost", "[::1]", "::ffff:127.0.0.1"])
def test_resolve_refuses_loopback_in_every_form(host):
    with pytest.raises(RefusedAddress):
        asyncio.run(AddressPolicy().resolve(host, 80))


def test_resolve_allows_listed_loopback_and_reports_dns_failures():
    policy = AddressPolicy.from_allow_list(["127.0.0.1"])
    assert [str(a) for a in asyncio.run(policy.resolve("2130706433", 80))] == ["127.0.0.1"]
    with pytest.raises(ResolveError):
        asyncio.run(policy.resolve("no-such-host.invalid", 80))
