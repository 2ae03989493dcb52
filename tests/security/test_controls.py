"""Positive controls: realistic handlers that the sandbox MUST keep running, exactly.

A sandbox that refuses everything passes every attack case. These handlers use the
ordinary Python that function authors write (classes, private helpers, annotations,
f-strings, comprehensions, properties, exception subclasses, in-place operators, the
allowed modules, generators, lambdas, sorted keys, the SDK's errors and fetch) and
assert the exact outcome and result through the production worker pool.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import textwrap
from typing import Any

import pytest
from sandbox_harness import DEFAULT_EVENT, MEMORY_MB, TIMEOUT, Sandbox

from functions_runtime.sandbox.host.pool import InstanceSpec
from functions_sdk.testing import MockResponse

EVENT: dict[str, Any] = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user-42",
    "messageId": "msg-1",
    "timestamp": "2024-05-01T12:30:00Z",
    "properties": {
        "order_id": "o-17",
        "total": 59.5,
        "currency": "EUR",
        "items": [
            {"sku": "b", "price": 20.0, "qty": 1},
            {"sku": "a", "price": 19.75, "qty": 2},
        ],
    },
    "context": {"ip": "203.0.113.9", "locale": "de-DE"},
    "writeKey": "wk-1",
}


def run(
    sandbox: Sandbox,
    source: str,
    events: list[Any] | None = None,
    *,
    kind: str = "destination",
    settings: dict[str, Any] | None = None,
    secret_names: tuple[str, ...] = (),
    mocks: list[dict[str, Any]] | None = None,
    batch: bool = False,
    key: str | None = None,
) -> list[dict[str, Any]]:
    source = textwrap.dedent(source)
    spec = InstanceSpec(
        key=key or f"control-{abs(hash((source, kind, json.dumps(settings))))}",
        source=source,
        filename="handler.py",
        kind=kind,
        timeout=TIMEOUT,
        memory_mb=MEMORY_MB,
        settings=settings or {},
        secret_names=secret_names,
    )
    return sandbox.pool.invoke(
        spec, events if events is not None else [dict(EVENT)], batch=batch, mocks=mocks
    )


def delivered(results: list[dict[str, Any]]) -> Any:
    [result] = results
    assert result["outcome"] == "delivered", result
    assert result["error"] is None
    return result["result"]


def test_classes_private_attributes_properties_and_inplace_ops(sandbox: Sandbox) -> None:
    source = '''
    class Cart:
        """A small class like authors write: private state, a property, counters."""

        def __init__(self, currency):
            self._currency = currency
            self._lines = []
            self.count = 0

        def add(self, sku, price, qty=1):
            self._lines.append((sku, price, qty))
            self.count += qty

        @property
        def total(self):
            return round(sum(price * qty for _, price, qty in self._lines), 2)

        def _label(self):
            return f"{self.count} items, {self.total:.2f} {self._currency}"

        def summary(self):
            return {"label": self._label(), "skus": sorted(s for s, _, _ in self._lines)}

        def __repr__(self):
            return f"Cart({self.count})"

        def __len__(self):
            return len(self._lines)

        def __eq__(self, other):
            return isinstance(other, Cart) and self.total == other.total


    def on_track(event, settings):
        cart = Cart(event.properties["currency"])
        for item in event.properties["items"]:
            cart.add(item["sku"], item["price"], item["qty"])
        totals = {"n": 0}
        totals["n"] += len(cart)
        totals["n"] *= 10
        again = Cart("EUR")
        again.add("x", 59.5)
        out = cart.summary()
        out.update({"repr": repr(cart), "len": len(cart), "same": cart == again,
                    "n": totals["n"]})
        return out
    '''
    assert delivered(run(sandbox, source)) == {
        "label": "3 items, 59.50 EUR",
        "skus": ["a", "b"],
        "repr": "Cart(3)",
        "len": 2,
        "same": True,
        "n": 20,
    }


def test_annotations_future_import_and_typing(sandbox: Sandbox) -> None:
    source = """
    from __future__ import annotations

    from typing import Any, Dict, List, Optional

    from functions_sdk import Settings, TrackEvent

    RATE: float = 1.1
    LIMIT: int = 3
    seen: List[str]


    def _names(items: List[Dict[str, Any]], limit: Optional[int] = None) -> List[str]:
        names: List[str] = [str(i["sku"]).upper() for i in items]
        return names[:limit] if limit is not None else names


    def on_track(event: TrackEvent, settings: Settings) -> dict[str, Any]:
        total: float = event.properties["total"] * RATE
        return {"names": _names(event.properties["items"], LIMIT), "total": round(total, 2)}
    """
    assert delivered(run(sandbox, source)) == {"names": ["B", "A"], "total": 65.45}


def test_exception_subclasses_super_init_and_sdk_outcomes(sandbox: Sandbox) -> None:
    source = """
    from functions_sdk import DropEvent, RetryError, ValidationError


    class UpstreamBusy(RetryError):
        def __init__(self, service, seconds):
            super().__init__(f"{service} busy, retry in {seconds}s")
            self.service = service
            self._seconds = seconds


    class BadOrder(ValidationError):
        pass


    def on_track(event, settings):
        mode = event.properties.get("mode")
        if mode == "retry":
            raise UpstreamBusy("crm", 30)
        if mode == "drop":
            raise DropEvent("test traffic")
        if mode == "bad":
            raise BadOrder(f"order {event.properties['order_id']} has no total")
        try:
            {}["missing"]
        except KeyError as exc:
            caught = type_name = exc.args[0]
        try:
            raise UpstreamBusy("erp", 5)
        except RetryError as exc:
            message = exc.message
        return {"caught": caught, "message": message, "type": type_name}
    """

    def with_mode(mode: str) -> dict[str, Any]:
        event = json.loads(json.dumps(EVENT))
        event["properties"]["mode"] = mode
        return event

    results = run(
        sandbox, source, [with_mode("ok"), with_mode("retry"), with_mode("drop"), with_mode("bad")]
    )
    assert [r["outcome"] for r in results] == ["delivered", "retry", "filtered", "rejected"]
    assert results[0]["result"] == {
        "caught": "missing",
        "message": "erp busy, retry in 5s",
        "type": "missing",
    }
    assert results[1]["error"] == {
        "type": "UpstreamBusy",
        "message": "crm busy, retry in 30s",
        "line": 19,
    }
    assert results[2]["error"]["type"] == "DropEvent"
    assert results[3]["error"] == {
        "type": "BadOrder",
        "message": "order o-17 has no total",
        "line": 23,
    }


def test_signing_with_json_hmac_hashlib_base64(sandbox: Sandbox) -> None:
    source = """
    import base64
    import hashlib
    import hmac
    import json


    def _sign(secret, body):
        digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        return "sha256=" + digest


    def on_track(event, settings):
        body = json.dumps({"event": event.event, "user": event.userId}, sort_keys=True,
                          separators=(",", ":"))
        return {
            "body": body,
            "signature": _sign(settings.get_str("signing_secret"), body),
            "md5": hashlib.md5(body.encode()).hexdigest(),
            "b64": base64.b64encode(body.encode()).decode(),
            "roundtrip": json.loads(body)["user"],
            "same": hmac.compare_digest("a", "a"),
        }
    """
    body = '{"event":"Order Completed","user":"user-42"}'
    expected = {
        "body": body,
        "signature": "sha256="
        + hmac.new(b"s3cret-value", body.encode(), hashlib.sha256).hexdigest(),
        "md5": hashlib.md5(body.encode()).hexdigest(),
        "b64": base64.b64encode(body.encode()).decode(),
        "roundtrip": "user-42",
        "same": True,
    }
    result = run(
        sandbox,
        source,
        settings={"signing_secret": "s3cret-value"},
        secret_names=("signing_secret",),
    )
    assert delivered(result) == expected


def test_datetime_re_urllib_collections_itertools_decimal_uuid(sandbox: Sandbox) -> None:
    source = """
    import collections
    import datetime
    import decimal
    import itertools
    import re
    import urllib.parse
    import uuid
    from urllib.parse import urlencode


    def on_track(event, settings):
        ts = event.timestamp
        day = ts.date().isoformat()
        later = (ts + datetime.timedelta(hours=1, minutes=15)).strftime("%H:%M")
        utc = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        m = re.match(r"^(?P<kind>[a-z])-(?P<num>\\d+)$", event.properties["order_id"])
        skus = collections.Counter(i["sku"] for i in event.properties["items"])
        pairs = list(itertools.combinations(sorted(skus), 2))
        money = decimal.Decimal("19.75") * 2 + decimal.Decimal("20.00")
        url = urllib.parse.urlsplit("https://api.example.com/v1/orders?page=2")
        ns = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/" + event.userId)
        grouped = {k: len(list(g)) for k, g in itertools.groupby("aabbbc")}
        return {
            "day": day, "later": later, "iso": utc.isoformat(),
            "kind": m.group("kind"), "num": int(m["num"]),
            "skus": dict(skus), "pairs": pairs,
            "money": str(money.quantize(decimal.Decimal("0.01"))),
            "host": url.hostname, "query": urllib.parse.parse_qs(url.query),
            "encoded": urlencode({"q": "a b", "n": 1}),
            "uuid": str(ns), "grouped": grouped,
            "dq": list(collections.deque([1, 2, 3], maxlen=2)),
            "dd": dict(collections.defaultdict(int, {"x": 1})),
        }
    """
    import uuid

    assert delivered(run(sandbox, source)) == {
        "day": "2024-05-01",
        "later": "13:45",
        "iso": "2024-01-02T03:04:05+00:00",
        "kind": "o",
        "num": 17,
        "skus": {"b": 1, "a": 1},
        "pairs": [["a", "b"]],
        "money": "59.50",
        "host": "api.example.com",
        "query": {"page": ["2"]},
        "encoded": "q=a+b&n=1",
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/user-42")),
        "grouped": {"a": 2, "b": 3, "c": 1},
        "dq": [2, 3],
        "dd": {"x": 1},
    }


def test_generators_lambdas_sorted_keys_comprehensions(sandbox: Sandbox) -> None:
    source = """
    def _pairs(items):
        for index, item in enumerate(items):
            yield index, item["sku"], item["price"] * item["qty"]


    def _count_up(limit):
        n = 0
        while n < limit:
            n += 1
            yield n


    def on_track(event, settings):
        items = event.properties["items"]
        by_price = sorted(items, key=lambda i: (i["price"], i["sku"]))
        rows = [f"{i}:{sku}:{amount:.1f}" for i, sku, amount in _pairs(items)]
        squares = {n: n * n for n in _count_up(4) if n % 2 == 0}
        gen = _count_up(3)
        first = next(gen)
        rest = list(gen)
        flat = [x for pair in [[1, 2], [3]] for x in pair]
        first_sku, *others = [i["sku"] for i in items]
        return {
            "by_price": [i["sku"] for i in by_price],
            "rows": rows,
            "squares": {str(k): v for k, v in squares.items()},
            "first": first, "rest": rest, "flat": flat,
            "max": max(items, key=lambda i: i["price"])["sku"],
            "zipped": list(zip("ab", [1, 2])),
            "any": any(i["qty"] > 1 for i in items), "all": all(i["qty"] for i in items),
            "unpacked": [first_sku, others],
            "mapped": list(map(str.upper, ["x", "y"])),
            "filtered": list(filter(None, [0, 1, 2])),
            "reversed": list(reversed(range(3))),
        }
    """
    assert delivered(run(sandbox, source)) == {
        "by_price": ["a", "b"],
        "rows": ["0:b:20.0", "1:a:39.5"],
        "squares": {"2": 4, "4": 16},
        "first": 1,
        "rest": [2, 3],
        "flat": [1, 2, 3],
        "max": "b",
        "zipped": [["a", 1], ["b", 2]],
        "any": True,
        "all": True,
        "unpacked": ["b", ["a"]],
        "mapped": ["X", "Y"],
        "filtered": [1, 2],
        "reversed": [2, 1, 0],
    }


def test_insert_function_returns_the_modified_event(sandbox: Sandbox) -> None:
    source = """
    from functions_sdk import DropEvent


    def on_track(event, settings):
        if event.event == "Heartbeat":
            raise DropEvent("noise")
        event.properties["total_cents"] = int(event.properties["total"] * 100)
        event.properties.pop("items")
        event.context["ip"] = None
        event.userId = event.userId.upper()
        return event
    """
    heartbeat = dict(DEFAULT_EVENT, event="Heartbeat")
    results = run(sandbox, source, [dict(EVENT), heartbeat], kind="insert")
    assert [r["outcome"] for r in results] == ["delivered", "filtered"]
    assert results[0]["result"] == {
        "type": "track",
        "event": "Order Completed",
        "userId": "USER-42",
        "messageId": "msg-1",
        "timestamp": "2024-05-01T12:30:00Z",
        "properties": {
            "order_id": "o-17",
            "total": 59.5,
            "currency": "EUR",
            "total_cents": 5950,
        },
        "context": {"ip": None, "locale": "de-DE"},
        "writeKey": "wk-1",
    }


def test_settings_getters_logging_and_print(sandbox: Sandbox) -> None:
    source = """
    from functions_sdk import logger


    def on_track(event, settings):
        url = settings.get_str("url")
        retries = settings.get_number("retries", 3)
        verbose = settings.get_bool("verbose", False)
        tags = settings.get_list("tags", [])
        logger.info("sending %s to %s", event.event, url)
        print("token", settings["api_key"])
        return {"url": url, "retries": retries, "verbose": verbose, "tags": tags,
                "has_key": "api_key" in settings, "secret": settings.is_secret("api_key"),
                "missing": settings.get("nope", "default")}
    """
    [result] = run(
        sandbox,
        source,
        settings={"url": "https://hooks.example.com/in", "tags": ["a"], "api_key": "k-123456"},
        secret_names=("api_key",),
    )
    assert result["outcome"] == "delivered", result
    assert result["result"] == {
        "url": "https://hooks.example.com/in",
        "retries": 3,
        "verbose": False,
        "tags": ["a"],
        "has_key": True,
        "secret": True,
        "missing": "default",
    }
    assert result["logs"] == [
        "INFO sending Order Completed to https://hooks.example.com/in",
        "token ***",
    ]


def test_fetch_with_mocked_responses(sandbox: Sandbox) -> None:
    source = """
    from functions_sdk import RetryError, fetch


    def on_track(event, settings):
        response = fetch(
            settings.get_str("url"),
            method="POST",
            headers={"Authorization": "Bearer " + settings.get_str("api_key")},
            json={"order": event.properties["order_id"]},
        )
        if not response.ok:
            raise RetryError(f"upstream answered {response.status}")
        return {"status": response.status, "id": response.json()["id"],
                "ctype": response.headers.get("content-type")}
    """
    mocks = [
        MockResponse(
            method="POST", url="https://api.example.com/orders", status=201, json={"id": "c-9"}
        ).to_dict()
    ]
    [result] = run(
        sandbox,
        source,
        settings={"url": "https://api.example.com/orders", "api_key": "k-abcdef"},
        secret_names=("api_key",),
        mocks=mocks,
    )
    assert result["outcome"] == "delivered", result
    assert result["result"] == {"status": 201, "id": "c-9", "ctype": "application/json"}
    [request] = result["requests"]
    assert request["method"] == "POST"
    assert request["url"] == "https://api.example.com/orders"
    assert request["request_headers"]["Authorization"] == "***"
    assert request["request_body"] == '{"order":"o-17"}'


def test_batch_handler_and_unhandled_event_types(sandbox: Sandbox) -> None:
    source = """
    from functions_sdk import DropEvent


    def on_batch(events, settings):
        out = []
        for event in events:
            if event.type == "identify":
                out.append(DropEvent("not synced"))
            else:
                out.append({"id": event.userId, "type": event.type})
        return out


    def on_track(event, settings):
        return {"single": event.event}
    """
    identify = {"type": "identify", "userId": "u-7", "traits": {"email": "a@example.com"}}
    results = run(sandbox, source, [dict(EVENT), identify], batch=True)
    assert [r["outcome"] for r in results] == ["delivered", "filtered"]
    assert results[0]["result"] == {"id": "user-42", "type": "track"}
    single = run(sandbox, source, [identify])
    assert single[0]["outcome"] == "filtered"
    assert single[0]["error"]["type"] == "EventNotSupported"


def test_try_except_exception_and_error_handling(sandbox: Sandbox) -> None:
    source = """
    import json


    def _parse(text):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            return {"error": exc.msg, "pos": exc.pos}
        except Exception:
            return None
        finally:
            pass


    def on_track(event, settings):
        results = [_parse('{"a": 1}'), _parse("{bad")]
        try:
            1 / 0
        except (ZeroDivisionError, ValueError) as exc:
            results.append(str(exc))
        try:
            int("x")
        except Exception as exc:
            results.append(exc.args[0][:24])
        return {"results": results}
    """
    assert delivered(run(sandbox, source)) == {
        "results": [
            {"a": 1},
            {"error": "Expecting property name enclosed in double quotes", "pos": 1},
            "division by zero",
            "invalid literal for int(",
        ]
    }


def test_module_helpers_constants_and_closures(sandbox: Sandbox) -> None:
    source = """
    import math
    import random

    FIELDS = ("order_id", "currency")
    _CACHE = {}


    def _make_scaler(factor):
        def scale(x):
            return x * factor
        return scale


    def _field(props, name, default=None):
        return props.get(name, default)


    def on_track(event, settings):
        double = _make_scaler(2)
        _CACHE["last"] = event.messageId
        picked = {name: _field(event.properties, name) for name in FIELDS}
        rng = random.randint(1, 6)
        return {
            "picked": picked, "double": double(21), "sqrt": math.sqrt(16),
            "pi": round(math.pi, 3), "cache": dict(_CACHE), "dice_ok": 1 <= rng <= 6,
            "isinstance": isinstance(picked, dict), "abs": abs(-3), "divmod": list(divmod(7, 2)),
        }
    """
    assert delivered(run(sandbox, source)) == {
        "picked": {"order_id": "o-17", "currency": "EUR"},
        "double": 42,
        "sqrt": 4.0,
        "pi": 3.142,
        "cache": {"last": "msg-1"},
        "dice_ok": True,
        "isinstance": True,
        "abs": 3,
        "divmod": [3, 1],
    }


@pytest.mark.parametrize("secret", ["42", "1", ","])
def test_a_short_secret_in_the_result_is_masked_not_fatal(sandbox: Sandbox, secret: str) -> None:
    """Masking secrets in results must not break the record (a PIN-like numeric secret)."""
    source = """
    def on_track(event, settings):
        return {"counts": [1, 42, 7], "text": "a,b"}
    """
    [result] = run(
        sandbox,
        source,
        settings={"pin": secret},
        secret_names=("pin",),
        key=f"control-short-secret-{secret}",
    )
    assert result["outcome"] == "delivered", result
    assert isinstance(result["result"], dict), result


def test_classmethods_staticmethods_dynamic_attributes_and_sdk_types(sandbox: Sandbox) -> None:
    source = """
    import datetime
    import re

    from functions_sdk import Settings, TrackEvent


    class Contact:
        kind = "contact"

        def __init__(self, email, name=None):
            self.email = email
            self.name = name

        @classmethod
        def from_event(cls, event):
            return cls(event.properties.get("email", "none@example.com"), event.userId)

        @staticmethod
        def normalise(text):
            return re.sub(r"\\s+", " ", text).strip().lower()

        def to_dict(self):
            return {k: getattr(self, k, None) for k in ("email", "name", "phone")}


    def on_track(event, settings):
        contact = Contact.from_event(event)
        setattr(contact, "phone", "+49 30 1234")
        contact.name = Contact.normalise("  Jane   DOE ")
        now = datetime.datetime.now(datetime.UTC)
        return {
            "contact": contact.to_dict(),
            "kind": contact.kind,
            "has_phone": hasattr(contact, "phone"),
            "is_event": isinstance(event, TrackEvent),
            "is_settings": isinstance(settings, Settings),
            "aware": now.tzinfo is not None,
            "dump": event.model_dump(mode="json")["properties"]["order_id"],
            "percent": "%s-%d" % ("order", 7),
            "joined": ", ".join(s.upper() for s in "a b".split()),
        }
    """
    assert delivered(run(sandbox, source)) == {
        "contact": {"email": "none@example.com", "name": "jane doe", "phone": "+49 30 1234"},
        "kind": "contact",
        "has_phone": True,
        "is_event": True,
        "is_settings": True,
        "aware": True,
        "dump": "o-17",
        "percent": "order-7",
        "joined": "A, B",
    }


@pytest.mark.parametrize(
    "imports",
    [
        # The SDK documents this path: "The models are also importable from
        # functions_sdk.events" (functions_sdk/events.py).
        "from functions_sdk.events import TrackEvent\nfrom functions_sdk import Settings",
        # The usual way to import names only the type checker needs.
        "from typing import TYPE_CHECKING\n"
        "from functions_sdk import Settings, TrackEvent\n"
        "if TYPE_CHECKING:\n"
        "    from functions_sdk.events import Event",
    ],
    ids=["sdk-events-module", "type-checking-block"],
)
def test_documented_typed_imports(sandbox: Sandbox, imports: str) -> None:
    source = (
        imports
        + "\n\n\ndef on_track(event: TrackEvent, settings: Settings) -> dict[str, str]:\n"
        + "    return {'event': event.event}\n"
    )
    assert delivered(run(sandbox, source)) == {"event": "Order Completed"}


def test_model_validate_and_model_copy_stand_ins(sandbox: Sandbox) -> None:
    """The guard's own model_validate / model_copy keep their ordinary uses working
    (validated); only from_attributes and unvalidated updates are refused."""
    source = """
    from functions_sdk import IdentifyEvent, ValidationError


    def on_track(event, settings):
        made = IdentifyEvent.model_validate({"type": "identify", "userId": "u-9"})
        strict = IdentifyEvent.model_validate({"userId": "u-8"}, strict=True)
        renamed = event.model_copy(update={"event": "Renamed", "plan": "gold"})
        deep = event.model_copy(deep=True)
        deep.properties["total"] = 0
        refused = []
        for attempt in (
            lambda: event.model_copy(update={"userId": ["x"]}),
            lambda: event.model_copy(update={"_private": 1}),
            lambda: IdentifyEvent.model_validate(made, from_attributes=True),
        ):
            try:
                attempt()
            except Exception as exc:
                refused.append(str(exc)[:40])
        return {
            "made": made.userId,
            "strict": strict.userId,
            "renamed": renamed.event,
            "extra": renamed.plan,
            "original": event.event,
            "total": event.properties["total"],
            "refused": len(refused),
        }
    """
    assert delivered(run(sandbox, source)) == {
        "made": "u-9",
        "strict": "u-8",
        "renamed": "Renamed",
        "extra": "gold",
        "original": "Order Completed",
        "total": 59.5,
        "refused": 3,
    }
