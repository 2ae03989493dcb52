"""Multi-file functions through the API (both backends) and the CLI.

The README's story: a function folder holds ``handler.py`` beside a helper module and a
package, imported absolutely and relatively; every file is compiled under the sandbox's
policy (problems name their file), the version is the whole folder (its hash covers
every file; its JSON lists them; ``diff`` shows each), and every event gets fresh
modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from functions_runtime.control.libraries import module_files
from functions_runtime.delivery.dispatch import Dispatcher
from tests.functional.conftest import ROOT, TRACK, Api

HANDLER = """\
import helpers
from .helpers import shout
from lib import util
from lib.text import initials


def on_track(event, settings):
    helpers.SEEN.append(event.userId)  # module state: must not survive the event
    return {
        "shout": shout(event.event),
        "slug": util.slug(event.event),
        "initials": initials(event.event),
        "seen": len(helpers.SEEN),
    }
"""
FILES = {
    "handler.py": HANDLER,
    "helpers.py": "SEEN = []\n\n\ndef shout(text):\n    return text.upper() + '!'\n",
    "lib/__init__.py": "",
    "lib/util.py": "from ..helpers import shout\n\n\ndef slug(text):\n"
    "    return shout(text).lower().replace(' ', '-')\n",
    "lib/text.py": "from .util import slug\n\n\ndef initials(text):\n"
    "    return ''.join(word[0] for word in slug(text).split('-') if word)\n",
}
EXPECTED = {"shout": "SIGNED UP!", "slug": "signed-up!", "initials": "su", "seen": 1}


def run(api: Api, version_id: str, **body: Any) -> list[dict[str, Any]]:
    reply = api.acme.ok(
        "POST", f"/v1/versions/{version_id}/test", {"events": [TRACK, TRACK], **body}
    )
    return reply["results"]


def test_a_folder_runs_with_absolute_and_relative_imports_and_fresh_modules(api: Api):
    created = api.acme.create_function(FILES, name="shouter")
    version = created["version"]
    assert version["files"] == sorted(FILES)
    results = run(api, version["id"])
    assert [r["outcome"] for r in results] == ["delivered", "delivered"]
    # ``seen`` is 1 both times: helpers.SEEN is a fresh list in every event.
    assert [r["result"] for r in results] == [EXPECTED, EXPECTED]


def test_the_version_is_the_whole_folder(api: Api):
    first = api.acme.create_function(FILES, name="shouter")
    fn, v1 = first["function"]["id"], first["version"]
    # Only a helper changes: a new version, whose diff shows that file.
    changed = {**FILES, "lib/util.py": FILES["lib/util.py"].replace("'-'", "'_'")}
    v2 = api.acme.upload(fn, changed)["version"]
    assert v2["id"] != v1["id"] and v2["content_hash"] != v1["content_hash"]
    # The same folder again is the same version.
    assert api.acme.upload(fn, changed)["version"]["id"] == v2["id"]
    diff = api.acme.ok("GET", f"/v1/versions/{v1['id']}/diff/{v2['id']}")["diff"]
    assert "--- v1/lib/util.py" in diff and "+++ v2/lib/util.py" in diff
    assert "handler.py" not in diff  # unchanged files are not in the diff
    # A file added, then removed, shows as such.
    v3 = api.acme.upload(fn, {**changed, "extra.py": "X = 1\n"})["version"]
    added = api.acme.ok("GET", f"/v1/versions/{v2['id']}/diff/{v3['id']}")["diff"]
    assert "--- /dev/null" in added and "+++ v3/extra.py" in added
    shown = api.acme.ok("GET", f"/v1/versions/{v3['id']}")
    assert set(shown["files"]) == {*FILES, "extra.py"}
    assert shown["files"]["lib/util.py"] == changed["lib/util.py"]
    assert shown["code"] == HANDLER


def test_every_file_is_compiled_under_the_policy_and_named_in_problems(api: Api):
    bad = {
        **FILES,
        "helpers.py": "import os\n",
        "lib/util.py": "def slug(text):\n    return text.__class__\n",
    }
    reply = api.acme.post("/v1/functions", {"files": bad, "name": "bad"})
    assert reply.status == 422
    problems = reply.body["error"]["problems"]
    assert any(p.startswith("helpers.py:1: ") and '"os"' in p for p in problems), problems
    assert any(p.startswith("lib/util.py:2: ") for p in problems), problems
    assert api.acme.ok("GET", "/v1/functions")["functions"] == []


def test_imports_of_missing_modules_and_bad_paths_are_refused_at_upload(api: Api):
    missing = {"handler.py": "from .nowhere import x\n\ndef on_track(e, s):\n    return x\n"}
    reply = api.acme.post("/v1/functions", {"files": missing, "name": "missing"})
    assert reply.status == 422
    assert reply.body["error"]["problems"] == [
        'handler.py:1: no module "nowhere" in this function\'s folder'
    ]
    for path in ("../x.py", "my-helpers.py", "notes.txt"):
        reply = api.acme.post("/v1/functions", {"files": {**FILES, path: "X = 1\n"}})
        assert reply.status in (400, 422), (path, reply)


def test_a_zipped_folder_uploads_every_module(api: Api):
    from tests.functional.conftest import zipped

    reply = api.acme.post("/v1/functions", {"zip": zipped(FILES, "shouter/"), "name": "z"})
    assert reply.status == 201, reply
    assert reply.body["version"]["files"] == sorted(FILES)


def test_deliveries_run_the_modules_of_the_deployed_version(api: Api):
    created = api.acme.create_function(FILES, name="shouter")
    instance = api.acme.deploy(created["function"]["id"])
    plane = api.plane
    version = plane.store.get_version(api.acme_id, instance["version_id"])
    assert version is not None
    modules = module_files(plane.backend.blobs, plane.store, api.acme_id, version, {})
    assert dict(modules) == {k: v for k, v in FILES.items() if k != "handler.py"}
    dispatcher = Dispatcher(plane.backend, api.delivery, plane.pool)
    spec = dispatcher.spec_for(api.acme_id, instance["id"])
    assert spec is not None and spec.modules == modules
    results = plane.pool.invoke(spec, [TRACK])
    assert results[0]["result"] == EXPECTED


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "functions_runtime.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def _write(folder: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def test_the_cli_validates_and_invokes_a_folder_and_leaves_tests_out(tmp_path: Path):
    from functions_runtime.cli.client import read_function_files

    folder = tmp_path / "shouter"
    _write(folder, FILES)
    _write(folder, {"test_handler.py": "import pytest\n", "tests/test_x.py": "import os\n"})
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "helpers.cpython-311.py").write_text("import os\n")
    assert sorted(read_function_files(str(folder))) == sorted(FILES)

    checked = _cli("validate", str(folder))
    assert checked.returncode == 0, checked.stderr
    assert "4 more files" in checked.stdout
    event = tmp_path / "track.json"
    event.write_text(json.dumps(TRACK))
    invoked = _cli("invoke", str(folder), "--event", str(event))
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["result"] == EXPECTED

    _write(folder, {"lib/util.py": "import os\n"})
    refused = _cli("validate", str(folder))
    assert refused.returncode == 1
    assert f"{folder}/lib/util.py:1: " in refused.stderr


def _readme_block(first_line: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in readme.split("```python\n")[1:]:
        if block.startswith(first_line + "\n"):
            return block.split("```", 1)[0]
    raise AssertionError(f"no python block starting with {first_line!r} in README.md")


def test_the_readme_folder_runs_through_the_sandbox(tmp_path: Path):
    from functions_sdk.testing import run_function

    folder = tmp_path / "crm_sync"
    _write(
        folder,
        {
            "handler.py": _readme_block("# crm_sync/handler.py"),
            "mapping.py": _readme_block("# crm_sync/mapping.py"),
            "crm/__init__.py": "",
            "crm/client.py": "from ..mapping import FIELDS\n\n\ndef upsert(contact):\n"
            "    return {'upserted': [contact[name] for name in FIELDS]}\n",
        },
    )
    event = {"type": "identify", "userId": "u1", "traits": {"email": "a@b.c", "name": "Ada"}}
    result = run_function(str(folder), event)
    assert result.outcome == "delivered", result
    assert result.result == {"upserted": ["a@b.c", "Ada"]}
