"""API keys: what ``authenticate`` accepts, what it refuses (and says), what is stored.

Against the embedded metadata store (a real SQLite database in ``tmp_path``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from functions_runtime.control.auth import Principal, authenticate, hash_key, issue_key, new_secret
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.errors import ServiceError
from functions_runtime.control.models import Workspace, utcnow
from functions_runtime.control.ports import MetadataStore

MISSING = "missing Authorization: Bearer <api key> header"
NOT_BEARER = "the Authorization header must be 'Bearer <key>'"
UNKNOWN = "unknown API key"


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    return open_embedded(tmp_path / "data").metadata


@pytest.fixture
def acme(store: MetadataStore) -> Workspace:
    workspace = Workspace(id="ws_acme", name="acme", created_at=utcnow())
    store.create_workspace(workspace)
    return workspace


def refusal(store: MetadataStore, header: str | None) -> tuple[int, str, str]:
    with pytest.raises(ServiceError) as caught:
        authenticate(store, header)
    return caught.value.status, caught.value.code, caught.value.message


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, MISSING),
        ("", MISSING),
        ("Basic dXNlcjpwYXNz", NOT_BEARER),
        ("Token fk_abc", NOT_BEARER),
        ("fk_abc", NOT_BEARER),
        ("Bearer", NOT_BEARER),
        ("Bearer ", NOT_BEARER),
        ("Bearer    ", NOT_BEARER),
        ("Bearer fk_not_a_key", UNKNOWN),
    ],
)
def test_refusals_are_401_unauthorized_and_say_why(
    store: MetadataStore, acme: Workspace, header: str | None, message: str
) -> None:
    issue_key(store, acme)  # a key exists; none of these headers carries it
    assert refusal(store, header) == (401, "unauthorized", message)


def test_a_workspace_key_authenticates_as_that_workspace(
    store: MetadataStore, acme: Workspace
) -> None:
    key = issue_key(store, acme)
    record = store.find_api_key(hashlib.sha256(key.encode()).hexdigest())
    assert record is not None
    assert authenticate(store, f"Bearer {key}") == Principal(record.id, "ws_acme", False)


def test_an_admin_key_authenticates_as_admin(store: MetadataStore, acme: Workspace) -> None:
    issue_key(store, acme)
    key = issue_key(store, None)
    record = store.find_api_key(hashlib.sha256(key.encode()).hexdigest())
    assert record is not None
    assert authenticate(store, f"Bearer {key}") == Principal(record.id, None, True)


@pytest.mark.parametrize("header", ["bearer {}", "BEARER {}", "Bearer  {}", "Bearer {}  "])
def test_the_scheme_is_case_insensitive_and_the_key_is_trimmed(
    store: MetadataStore, acme: Workspace, header: str
) -> None:
    key = issue_key(store, acme)
    principal = authenticate(store, header.format(key))
    assert (principal.workspace_id, principal.admin) == ("ws_acme", False)


def test_only_the_whole_key_authenticates(store: MetadataStore, acme: Workspace) -> None:
    key = issue_key(store, acme)
    for wrong in (key[:-1], key + "x", key.upper(), key[7:]):
        assert refusal(store, f"Bearer {wrong}") == (401, "unauthorized", UNKNOWN)


def test_a_given_key_is_stored_as_its_sha256_and_a_seven_character_prefix(
    store: MetadataStore, acme: Workspace
) -> None:
    given = "fk_given-key-0123456789"
    assert issue_key(store, acme, key=given) == given
    digest = hashlib.sha256(given.encode("utf-8")).hexdigest()
    assert hash_key(given) == digest
    record = store.find_api_key(digest)
    assert record is not None
    assert (record.key_hash, record.prefix, record.workspace_id, record.admin) == (
        digest,
        "fk_give",
        "ws_acme",
        False,
    )
    assert re.fullmatch(r"key_[0-9a-z]{16}", record.id)
    assert given not in record.model_dump_json()  # never the key itself
    assert authenticate(store, f"Bearer {given}").key_id == record.id


def test_an_admin_key_is_stored_for_no_workspace(store: MetadataStore) -> None:
    key = issue_key(store, None)
    record = store.find_api_key(hash_key(key))
    assert record is not None
    assert (record.workspace_id, record.admin, record.prefix) == (None, True, key[:7])


def test_new_keys_carry_their_prefix_and_256_random_bits() -> None:
    keys = {new_secret() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert re.fullmatch(r"fk_[A-Za-z0-9_-]{43,}", key), key
    assert re.fullmatch(r"wk_[A-Za-z0-9_-]{43,}", new_secret("wk_"))
