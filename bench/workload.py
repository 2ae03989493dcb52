"""What the bench sends: Segment Spec events, settings, and the instances that run them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from functions_runtime.sandbox.host.pool import InstanceSpec

__all__ = [
    "ALLOW",
    "SECRET_NAMES",
    "events",
    "handler_source",
    "instance_spec",
    "mixed_events",
    "settings_for",
]

ALLOW = ("127.0.0.1",)
"""fetch may reach the loopback sink, and nothing else private."""
SECRET_NAMES = ("signing_secret",)
HANDLER_PATH = Path(__file__).with_name("handler.py")
_SKUS = ("45790-32", "46493-32", "11200-07", "99120-01")
_NAMES = ("Monopoly: 3rd Edition", "Uno Card Game", "Chess Set", "Puzzle 1000")


def handler_source() -> str:
    """The destination function's code, as a customer would upload it."""
    return HANDLER_PATH.read_text(encoding="utf-8")


def settings_for(url: str, instance: int = 0) -> dict[str, Any]:
    """Settings values of one instance (each instance has its own secret)."""
    return {
        "url": url,
        "signing_secret": f"whsec_bench_{instance:04d}_s3cr3t",
        "instance": instance,
    }


def instance_spec(
    url: str, instance: int = 0, *, nonce: str = "", workspace: str = ""
) -> InstanceSpec:
    """A deployed instance of the bench handler; ``nonce`` makes a new version;
    ``workspace`` names its workspace, as deliveries do (instances of one workspace
    that run the same code may share a warm worker)."""
    source = handler_source() + (f"\n# version {nonce}\n" if nonce else "")
    settings = settings_for(url, instance)
    return InstanceSpec(
        key=InstanceSpec.key_for(source, settings, "handler.py", instance, nonce),
        source=source,
        filename="handler.py",
        settings=settings,
        secret_names=SECRET_NAMES,
        allow=ALLOW,
        timeout=10.0,
        workspace=workspace,
    )


def _context(i: int) -> dict[str, Any]:
    return {
        "ip": f"203.0.113.{i % 250 + 1}",
        "locale": "en-US",
        "timezone": "America/New_York",
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15",
        "library": {"name": "analytics.js", "version": "next-1.64.0"},
        "page": {"path": "/checkout/complete", "url": "https://shop.example.com/checkout"},
        "campaign": {"name": "winter_sale", "source": "newsletter", "medium": "email"},
    }


def _common(i: int, kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "userId": f"user_{i % 997:05d}",
        "anonymousId": f"0b5b2e4a-7c1d-4f3a-9e60-{i:012d}",
        "messageId": f"bench-{kind}-{i:08d}",
        "context": _context(i),
        "integrations": {"All": True},
        "timestamp": "2024-11-24T00:00:00.123Z",
        "sentAt": "2024-11-24T00:00:00.150Z",
        "receivedAt": "2024-11-24T00:00:00.173Z",
        "channel": "client",
        "version": 2,
    }


def track_event(i: int) -> dict[str, Any]:
    """An ``Order Completed`` track event with one to three products."""
    products: list[dict[str, Any]] = [
        {
            "product_id": f"507f1f77bcf86cd7994390{j:02d}",
            "sku": _SKUS[(i + j) % len(_SKUS)],
            "name": _NAMES[(i + j) % len(_NAMES)],
            "price": 3.0 + (i + j) % 17,
            "quantity": 1 + j,
            "category": "Games",
        }
        for j in range(1 + i % 3)
    ]
    return {
        **_common(i, "track"),
        "event": "Order Completed",
        "properties": {
            "order_id": f"50314b8e9bcf{i:012d}",
            "revenue": round(sum(float(p["price"]) * int(p["quantity"]) for p in products), 2),
            "currency": "usd",
            "coupon": "hasbros",
            "products": products,
        },
    }


def identify_event(i: int) -> dict[str, Any]:
    return {
        **_common(i, "identify"),
        "traits": {"email": f"Person{i}@Example.com", "name": f"Person {i}", "plan": "pro"},
    }


def page_event(i: int) -> dict[str, Any]:
    return {
        **_common(i, "page"),
        "name": "Checkout",
        "properties": {"url": "https://shop.example.com/checkout", "referrer": "https://x.test/"},
    }


def events(count: int) -> list[dict[str, Any]]:
    """``count`` distinct track events."""
    return [track_event(i) for i in range(count)]


def mixed_events(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` events: 70 % track, 20 % identify, 10 % page, in a seeded order."""
    rng = random.Random(seed)
    makers = (track_event, identify_event, page_event)
    return [rng.choices(makers, weights=(7, 2, 1))[0](i) for i in range(count)]
