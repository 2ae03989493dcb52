"""The sample events and the ``functions`` CLI contract (``validate`` and ``invoke``).

The CLI is run as a subprocess, as users and other tools run it. ``invoke`` cannot
mock HTTP, so the outcome checks for every sample use tiny functions written here
that make no requests; the README's outcome table for the three user functions is
checked against a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.sandbox.host.local import build_spec
from functions_runtime.sandbox.host.pool import summarise
from functions_sdk.testing import run_batch, run_function

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "samples" / "events"
SETTINGS = ROOT / "samples" / "settings"
FUNCTIONS = ROOT / "user_functions"
README = EVENTS / "README.md"

USER_FUNCTIONS = ("signed_webhook", "slack_notifier", "crm_upsert")
VALID = ("track", "identify", "page", "screen", "group", "alias", "delete")
INVALID = {
    "invalid_track_missing_event": "invalid track: event: field required",
    "invalid_missing_ids": (
        "invalid identify: userId or anonymousId: at least one must be a non-empty string"
    ),
    "invalid_wrong_types": "invalid track: userId: must be a string; properties: must be an object",
    "invalid_not_object": "invalid event: event must be a JSON object, got string",
    "invalid_unknown_type": "invalid event: type: 'purchase' is not one of track, identify",
}
ALL_SAMPLES = (*VALID, "batch", *INVALID)

ECHO = """\
from functions_sdk import Event, Settings

def on_track(event: Event, settings: Settings) -> str:
    return event.type

def on_identify(event: Event, settings: Settings) -> str:
    return event.type

def on_page(event: Event, settings: Settings) -> str:
    return event.type

def on_screen(event: Event, settings: Settings) -> str:
    return event.type

def on_group(event: Event, settings: Settings) -> str:
    return event.type

def on_alias(event: Event, settings: Settings) -> str:
    return event.type

def on_delete(event: Event, settings: Settings) -> str:
    return event.type
"""

TRACK_ONLY = """\
from functions_sdk import TrackEvent, Settings

def on_track(event: TrackEvent, settings: Settings) -> str:
    return event.event
"""

SPIN = """\
def on_track(event, settings):
    while True:
        pass
"""

SYNTAX_ERROR = """\
from functions_sdk import TrackEvent, Settings

def on_track(event: TrackEvent, settings: Settings) -> str
    return event.type
"""

PROBLEM_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<message>.+)$")


def functions(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``functions`` CLI the way users do: a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "functions_runtime.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def invoke(function: Path | str, event: Path | str, *extra: str) -> dict[str, Any]:
    proc = functions("invoke", str(function), "--event", str(event), *extra)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    output: dict[str, Any] = json.loads(proc.stdout)
    return output


def event_file(name: str) -> Path:
    return EVENTS / f"{name}.json"


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(source, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    return {
        "echo": write(folder, "echo.py", ECHO),
        "track_only": write(folder, "track_only.py", TRACK_ONLY),
    }


@pytest.fixture(scope="module")
def cli_runs(tiny: dict[str, Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """``functions invoke`` on every sample with both tiny functions (run concurrently)."""
    jobs = [(fn, name) for fn in tiny for name in ALL_SAMPLES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(lambda job: invoke(tiny[job[0]], event_file(job[1])), jobs))
    return dict(zip(jobs, outputs, strict=True))


# --------------------------------------------------------------------------- the files


def test_every_sample_file_is_listed_in_the_readme() -> None:
    files = sorted(p.name for p in EVENTS.glob("*.json"))
    assert files == sorted(f"{name}.json" for name in ALL_SAMPLES)
    text = README.read_text(encoding="utf-8")
    for name in files:
        assert f"| `{name}` |" in text, name


@pytest.mark.parametrize("name", VALID)
def test_valid_samples_are_realistic_spec_events(name: str) -> None:
    event = json.loads(event_file(name).read_text(encoding="utf-8"))
    assert event["type"] == name
    for key in ("messageId", "timestamp", "sentAt", "receivedAt", "context", "integrations"):
        assert key in event, key
    assert event.get("userId") or event.get("anonymousId")


def test_batch_sample_mixes_types() -> None:
    batch = json.loads(event_file("batch").read_text(encoding="utf-8"))
    assert isinstance(batch, list) and len(batch) == 6
    assert len({e["type"] for e in batch}) >= 4
    assert len({e["messageId"] for e in batch}) == 6


# --------------------------------------------------------------------------- invoke


@pytest.mark.parametrize("name", VALID)
def test_invoke_delivers_every_valid_sample(
    name: str, cli_runs: dict[tuple[str, str], dict[str, Any]]
) -> None:
    output = cli_runs["echo", name]
    assert output["outcome"] == "delivered", output["error"]
    assert output["result"] == name
    assert output["error"] is None
    assert output["requests"] == []


@pytest.mark.parametrize("name", VALID)
def test_invoke_filters_events_without_a_handler(
    name: str, cli_runs: dict[tuple[str, str], dict[str, Any]]
) -> None:
    output = cli_runs["track_only", name]
    if name == "track":
        assert output["outcome"] == "delivered"
        assert output["result"] == "Order Completed"
    else:
        assert output["outcome"] == "filtered"
        assert output["result"] is None
        assert output["error"] == {
            "type": "EventNotSupported",
            "message": f"no on_{name} handler",
            "line": None,
        }


def test_invoke_runs_the_batch_sample_event_by_event(
    cli_runs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    batch = json.loads(event_file("batch").read_text(encoding="utf-8"))
    output = cli_runs["echo", "batch"]
    assert output["outcome"] == "delivered"
    assert [r["outcome"] for r in output["results"]] == ["delivered"] * len(batch)
    assert [r["result"] for r in output["results"]] == [e["type"] for e in batch]

    partly = cli_runs["track_only", "batch"]
    assert [r["outcome"] for r in partly["results"]] == [
        "delivered" if e["type"] == "track" else "filtered" for e in batch
    ]
    assert partly["outcome"] == "filtered"  # the most severe per-event outcome


@pytest.mark.parametrize("name", sorted(INVALID))
@pytest.mark.parametrize("function", ["echo", "track_only"])
def test_invoke_rejects_every_invalid_sample(
    name: str, function: str, cli_runs: dict[tuple[str, str], dict[str, Any]]
) -> None:
    output = cli_runs[function, name]
    assert output["outcome"] == "rejected"
    assert output["result"] is None
    assert output["error"]["type"] == "InvalidEventPayload"
    assert output["error"]["message"].startswith(INVALID[name])
    assert output["logs"] == [] and output["requests"] == []


def test_invoke_refuses_a_file_that_is_not_json(tmp_path: Path, tiny: dict[str, Path]) -> None:
    bad = write(tmp_path, "broken.json", '{"type": "track", "event": "Oops",\n')
    proc = functions("invoke", str(tiny["echo"]), "--event", str(bad))

    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"functions: error: event file {bad} is not JSON: ")


@pytest.mark.parametrize("sample_function", USER_FUNCTIONS)
def test_invoke_refuses_a_missing_event_file(tmp_path: Path, sample_function: str) -> None:
    missing = tmp_path / "nope.json"
    proc = functions(
        "invoke",
        str(FUNCTIONS / sample_function),
        "--event",
        str(missing),
        "--settings",
        str(SETTINGS / f"{sample_function}.json"),
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"functions: error: event file not found: {missing}\n"


def test_invoke_refuses_a_missing_function(tmp_path: Path) -> None:
    proc = functions("invoke", str(tmp_path / "absent"), "--event", str(event_file("track")))
    assert proc.returncode == 2
    assert proc.stderr.startswith("functions: error: function not found: ")


def test_invoke_stops_a_handler_that_never_returns(tmp_path: Path) -> None:
    spin = write(tmp_path, "spin.py", SPIN)
    output = invoke(spin, event_file("track"), "--timeout", "1")

    assert output["outcome"] == "retry"
    assert output["error"]["type"] == "TimeoutError"
    assert "did not finish within 1 s" in output["error"]["message"]
    assert output["duration_ms"] >= 1000  # not cut short (an upper bound is bench/'s job)


def test_invoke_reports_code_that_does_not_compile_as_invalid(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.py", SYNTAX_ERROR)
    output = invoke(bad, event_file("track"))

    assert output["outcome"] == "invalid"
    assert output["result"] is None
    assert output["error"]["type"] == "InvalidFunction"
    assert output["problems"] == [f"{bad}:3: syntax error: expected ':'"]


# --------------------------------------------------------------------------- validate


def problems(stderr: str) -> list[tuple[str, int, str]]:
    """Parse ``path:line: message`` lines; every stderr line must have that shape."""
    out = []
    for line in stderr.splitlines():
        match = PROBLEM_LINE.match(line)
        assert match, f"not path:line: message: {line!r}"
        out.append((match["path"], int(match["line"]), match["message"]))
    return out


def test_validate_accepts_a_good_function(tiny: dict[str, Path]) -> None:
    proc = functions("validate", str(tiny["track_only"]))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == f"{tiny['track_only']}: ok (destination function; handlers: on_track)\n"


def test_validate_reports_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.py", SYNTAX_ERROR)
    proc = functions("validate", str(bad))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert problems(proc.stderr) == [(str(bad), 3, "syntax error: expected ':'")]


def test_validate_reports_every_problem_in_line_order(tmp_path: Path) -> None:
    source = (
        "import os\n"
        "from functions_sdk import TrackEvent, Settings\n"
        "\n"
        "def on_track(event: TrackEvent, settings: Settings) -> object:\n"
        "    return event.__class__\n"
        "\n"
        "import subprocess\n"
    )
    bad = write(tmp_path, "many.py", source)
    proc = functions("validate", str(bad))

    assert proc.returncode == 1
    found = problems(proc.stderr)
    assert [(path, line) for path, line, _ in found] == [
        (str(bad), 1),
        (str(bad), 5),
        (str(bad), 7),
    ]
    assert found[0][2].startswith('module "os" is not available in functions')
    assert "__class__" in found[1][2]
    assert found[2][2].startswith('module "subprocess" is not available in functions')


def test_validate_requires_a_handler(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.py", "def helper(x):\n    return x\n")
    proc = functions("validate", str(empty))
    assert proc.returncode == 1
    [(path, line, message)] = problems(proc.stderr)
    assert (path, line) == (str(empty), 1)
    assert message.startswith("no handler found")


def test_validate_reports_a_bad_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    write(folder, "handler.py", TRACK_ONLY)
    manifest = write(folder, "function.toml", 'name = "fn"\nkind = "sink"\n')
    proc = functions("validate", str(folder))
    assert proc.returncode == 1
    [(path, _line, message)] = problems(proc.stderr)
    assert path == str(manifest)
    assert message.startswith("kind: ")


@pytest.mark.parametrize(
    ("name", "handlers"),
    [
        (
            "signed_webhook",
            "on_track, on_identify, on_page, on_screen, on_group, on_alias, on_delete, on_batch",
        ),
        ("slack_notifier", "on_track, on_identify"),
        ("crm_upsert", "on_identify, on_track, on_group, on_delete"),
    ],
)
def test_every_user_function_passes_validate(name: str, handlers: str) -> None:
    proc = functions("validate", f"user_functions/{name}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == (
        f"user_functions/{name}/handler.py: ok (destination function; handlers: {handlers})\n"
    )


@pytest.mark.parametrize("name", USER_FUNCTIONS)
def test_sample_settings_fit_their_function(name: str) -> None:
    values = json.loads((SETTINGS / f"{name}.json").read_text(encoding="utf-8"))
    spec = build_spec(str(FUNCTIONS / name), values, timeout=None, allow=())
    assert spec.settings.keys() >= values.keys()
    assert spec.secret_names  # every sample function has a secret setting
    for value in values.values():
        if isinstance(value, str) and value.startswith("http"):
            assert ".example.com" in value  # placeholders only


# --------------------------------------------------------------------------- README table


class _Receiver(ThreadingHTTPServer):
    """Answers like the real services: Slack ``ok``, the CRM and webhook a JSON id."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ReceiverHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"ok" if self.path.startswith("/services/") else b'{"id": "demo_1"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_DELETE = _handle


@pytest.fixture(scope="module")
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def local_settings(
    receiver: _Receiver, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The sample settings with their placeholder hosts pointed at the receiver."""
    folder = tmp_path_factory.mktemp("settings")
    out = {}
    for name in USER_FUNCTIONS:
        text = (SETTINGS / f"{name}.json").read_text(encoding="utf-8")
        for host in ("https://hooks.example.com", "https://crm.example.com"):
            text = text.replace(host, receiver.base)
        out[name] = write(folder, f"{name}.json", text)
    return out


Expected = tuple[str, list[str] | None]


def readme_table() -> dict[tuple[str, str], Expected]:
    """``(sample, function) -> (outcome, per-event outcomes or None)`` from the README."""
    lines = README.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| file | signed_webhook"))
    columns = [c.strip() for c in lines[header].strip("|").split("|")][1:]
    table: dict[tuple[str, str], Expected] = {}
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        sample = cells[0].strip("`").removesuffix(".json")
        for function, cell in zip(columns, cells[1:], strict=True):
            outcome = re.match(r"`(\w+)`", cell)
            assert outcome, cell
            per_event = re.search(r"\(per event: ([a-z, ]+)\)", cell)
            table[sample, function] = (
                outcome[1],
                per_event[1].split(", ") if per_event else None,
            )
    return table


def test_readme_table_covers_every_sample_and_function() -> None:
    table = readme_table()
    assert set(table) == {(s, f) for s in ALL_SAMPLES for f in USER_FUNCTIONS}


@pytest.mark.parametrize("function", USER_FUNCTIONS)
def test_readme_outcomes_hold_for_every_sample(
    function: str, local_settings: dict[str, Path]
) -> None:
    """Same sandbox and worker pool as ``invoke`` (warm, so quick); real HTTP to 127.0.0.1."""
    settings = json.loads(local_settings[function].read_text(encoding="utf-8"))
    table = readme_table()
    for sample in ALL_SAMPLES:
        payload = json.loads(event_file(sample).read_text(encoding="utf-8"))
        path = str(FUNCTIONS / function)
        if isinstance(payload, list):
            results = run_batch(path, payload, settings=settings, allow=("127.0.0.1",))
            per_event: list[str] | None = [r.outcome for r in results]
            outcome = summarise([{"outcome": r.outcome} for r in results])
        else:
            result = run_function(path, payload, settings=settings, allow=("127.0.0.1",))
            outcome, per_event = result.outcome, None
        assert (outcome, per_event) == table[sample, function], (sample, function)


@pytest.mark.parametrize("function", USER_FUNCTIONS)
@pytest.mark.parametrize("sample", ["track", "batch", "invalid_wrong_types"])
def test_readme_outcomes_hold_through_the_cli(
    function: str, sample: str, local_settings: dict[str, Path]
) -> None:
    output = invoke(
        FUNCTIONS / function,
        event_file(sample),
        "--settings",
        str(local_settings[function]),
        "--allow-host",
        "127.0.0.1",
    )
    per_event = [r["outcome"] for r in output["results"]] if "results" in output else None
    assert (output["outcome"], per_event) == readme_table()[sample, function]
