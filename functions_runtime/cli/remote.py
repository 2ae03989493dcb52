"""The ``functions`` subcommands that manage functions on a server."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .client import ApiClient, ApiError, progress, quote, read_function_files
from .operate import add_operate_commands, add_source_commands
from .progress import Progress
from .resolve import function_of_instance, instance_id, version_id

__all__ = ["add_commands"]


def _load_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApiError(f"cannot read {what} file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ApiError(f"{what} file {path} is not JSON: {exc}") from None


def _print(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _find_function(api: ApiClient, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = api.call("GET", f"/v1/functions/{quote(name)}")
        return found
    except ApiError as exc:
        if str(exc).startswith("404"):
            return None
        raise


def _dry_run(args: argparse.Namespace, name: str, settings: Any) -> int:
    """What deploy would upload, checked here as the server checks it; no API call."""
    from ..manifest import ManifestError, check_settings, load_function
    from ..sandbox.folder import compile_on_disk

    try:
        fn = load_function(args.path)
        if settings is not None:
            check_settings(fn.manifest, settings, declared=fn.declared)
    except ManifestError as exc:
        raise ApiError("; ".join(exc.problems)) from None
    report = compile_on_disk(fn.filename, fn.source, fn.modules, fn.manifest.kind)
    if not report.ok:
        raise ApiError("; ".join(str(e) for e in report.errors))
    _print(
        {
            "dry_run": True,
            "name": name,
            "kind": fn.manifest.kind,
            "handlers": list(report.handlers),
            "files": sorted(read_function_files(args.path)),
            "source": args.source,
            "deploy": not args.no_deploy,
        }
    )
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    files = read_function_files(args.path)
    settings = _load_json(args.settings, "settings") if args.settings else None
    name = args.name or _manifest_name(args.path) or Path(args.path).resolve().name
    if args.dry_run:
        return _dry_run(args, name, settings)
    api = ApiClient()
    existing = _find_function(api, name)
    if existing is None:
        progress(f"creating function {name} ...")
        created = api.call("POST", "/v1/functions", {"name": name, "files": files})
        function, version = created["function"], created["version"]
    else:
        function = existing["function"]
        progress(f"uploading a new version of {name} ...")
        version = api.call("POST", f"/v1/functions/{function['id']}/versions", {"files": files})[
            "version"
        ]
    if args.no_deploy:
        _print({"function": function["id"], "name": name, **_version_summary(version)})
        return 0
    progress(f"deploying version {version['number']} ({version['id']}) ...")
    body: dict[str, Any] = {"version": version["id"]}
    if args.source:
        body["source"] = args.source
    if settings is not None:
        body["settings"] = settings
    if args.insert is not None:
        body["insert"] = args.insert
    instance = api.call("POST", f"/v1/functions/{function['id']}/deploy", body)["instance"]
    _print(
        {
            "function": function["id"],
            "name": name,
            "version": version["id"],
            "number": version["number"],
            "instance": instance["id"],
            "source": instance["source_id"],
            "insert": instance.get("insert_id"),
            "settings": instance["settings"],
        }
    )
    return 0


def _manifest_name(path: str) -> str | None:
    """The ``name`` a folder's function.toml declares, if it declares one."""
    from ..manifest import ManifestError, load_function

    try:
        fn = load_function(path)
    except (ManifestError, OSError):
        return None  # the server reports the problems of the upload
    return fn.manifest.name if fn.declared else None


def _version_summary(version: dict[str, Any]) -> dict[str, Any]:
    return {"version": version["id"], "number": version["number"], "deployed": False}


def cmd_versions(args: argparse.Namespace) -> int:
    api = ApiClient()
    versions = api.call("GET", f"/v1/functions/{quote(args.name)}/versions")["versions"]
    info = api.call("GET", f"/v1/functions/{quote(args.name)}")
    running: dict[str, list[str]] = {}
    for i in info["instances"]:
        running.setdefault(i["version_id"], []).append(i["id"])
    if args.json:  # each version with the instances that run it
        _print([{**v, "instances": running.get(v["id"], [])} for v in versions])
        return 0
    print(f"{'#':>3}  {'version':<26} {'created':<26} {'files':<24} deployed (* and the instances)")
    for v in versions:
        on = running.get(v["id"], [])
        mark = ("* " + " ".join(on)) if on else ""
        files = ", ".join(v.get("files") or ["handler.py"])
        line = f"{v['number']:>3}  {v['id']:<26} {v['created_at'][:25]:<26} {files:<24} {mark}"
        print(line.rstrip())
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    api = ApiClient()
    version = version_id(api, args.name, args.version)
    instance = instance_id(api, args.name, args.instance)
    progress(f"rolling instance {instance} back to {version} ...")
    _print(api.call("POST", f"/v1/instances/{instance}/rollback", {"version": version}))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    api = ApiClient()
    payload = _load_json(args.event, "event")
    info = api.call("GET", f"/v1/functions/{quote(args.name)}")
    function = info["function"]
    version = (
        version_id(api, args.name, args.version) if args.version else function["latest_version"]
    )
    body: dict[str, Any] = {"events" if isinstance(payload, list) else "event": payload}
    if args.settings:
        body["settings"] = _load_json(args.settings, "settings")
    elif args.instance:
        body["instance"] = instance_id(api, args.name, args.instance)
    elif len(info["instances"]) == 1:
        body["instance"] = info["instances"][0]["id"]
    _print(api.call("POST", f"/v1/versions/{version}/test", body))
    return 0


def cmd_sources_rotate_webhook(args: argparse.Namespace) -> int:
    rotated = ApiClient().call("POST", f"/v1/sources/{quote(args.source)}/webhook-token")
    _print(rotated)
    return 0


def cmd_sources_create(args: argparse.Namespace) -> int:
    created = ApiClient().call("POST", "/v1/sources", {"name": args.name})
    _print(
        {
            "source": created["source"]["id"],
            "name": created["source"]["name"],
            "write_key": created["write_key"],
        }
    )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    entries = ApiClient().call("GET", f"/v1/audit?limit={args.limit}")["entries"]
    if args.json:
        _print(entries)
        return 0
    for e in entries:
        print(f"{e['at'][:19]}  {e['action']:<18} {e['target']:<26} {e['actor']}")
    return 0


BODY_PREVIEW = 120


def _request_line(r: dict[str, Any]) -> str:
    """``METHOD url -> status  start of the body`` (recorded masked by the host)."""
    answer = r.get("response") or {}
    body = answer.get("body")
    preview = ""
    if isinstance(body, str) and body:
        flat = " ".join(body.split())
        preview = "  " + (flat[:BODY_PREVIEW] + ("..." if len(flat) > BODY_PREVIEW else ""))
    status = r.get("status") if r.get("status") is not None else (r.get("error") or "no answer")
    return f"{r.get('method')} {r.get('url')} -> {status}{preview}"


def _delivery_line(d: dict[str, Any]) -> str:
    """One line per delivery, then its error, requests (with their answers) and logs."""
    error = d.get("error") or {}
    line = (
        f"{d['at'][:23]}  {d['outcome']:<9} #{d['attempt']} {d['message_id']:<40} "
        f"{d['duration_ms']:>7.1f} ms"
    )
    extra = []
    if error:
        at = f" (line {error['line']})" if error.get("line") else ""
        extra.append(f"      ! {error.get('type')}: {error.get('message')}{at}")
    extra += [f"      > {_request_line(r)}" for r in d.get("requests") or []]
    extra += [f"      | {entry}" for entry in d.get("logs") or []]
    return "\n".join([line, *extra])


def cmd_logs(args: argparse.Namespace) -> int:
    api = ApiClient()
    target = instance_id(api, args.instance, args.which)
    query = f"?limit={args.limit}" + (f"&outcome={quote(args.outcome)}" if args.outcome else "")
    path = f"/v1/instances/{quote(target)}/deliveries"
    seen: set[str] = set()
    status = Progress()
    try:
        while True:
            records = api.call("GET", path + query)["deliveries"]
            fresh = [d for d in reversed(records) if d["id"] not in seen]
            if fresh:
                status.clear()
            for d in fresh:
                seen.add(d["id"])
                print(json.dumps(d) if args.json else _delivery_line(d), flush=True)
            if not args.follow:
                return 0
            status.update(f"following {target}: {len(seen)} shown, polled {time.strftime('%X')}")
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        status.clear()


def cmd_stats(args: argparse.Namespace) -> int:
    api = ApiClient()
    target = instance_id(api, args.instance, args.which)
    stats = api.call("GET", f"/v1/instances/{quote(target)}/stats")
    if args.json:
        _print(stats)
        return 0
    print("attempts by outcome (each retry is an attempt):")
    for outcome, count in sorted(stats["counts"].items()):
        print(f"  {outcome:<10} {count:>8}")
    p50 = "-" if stats["p50_ms"] is None else f"{stats['p50_ms']:.1f} ms"
    p95 = "-" if stats["p95_ms"] is None else f"{stats['p95_ms']:.1f} ms"
    print(f"{'attempts':<12} {stats['total']:>8}   p50 {p50}   p95 {p95}")
    if "events" in stats:
        print(f"{'events':<12} {stats['events']:>8}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    api = ApiClient()
    target = instance_id(api, args.instance, args.which)
    include = ["failed", *(args.include or [])]
    body: dict[str, Any] = {"include": include}
    if args.version:
        ref = args.version
        body["version"] = (
            ref
            if ref.startswith("ver_")
            else version_id(api, function_of_instance(api, target), ref)
        )
    if args.since:
        body["since"] = args.since
    started = time.time()
    queued = api.call("POST", f"/v1/instances/{quote(target)}/replay", body)
    ids = set(queued["message_ids"])
    progress(f"replay {queued['replay_id']}: {queued['queued']} events queued")
    settled: dict[str, str] = {}
    path = f"/v1/instances/{quote(target)}/deliveries?limit=1000"
    status = Progress()
    try:
        while ids and time.time() - started < args.wait:
            for d in api.call("GET", path)["deliveries"]:
                replayed = d["id"].endswith(":" + queued["replay_id"])
                if replayed and d["message_id"] in ids and d["outcome"] != "retry":
                    settled[d["message_id"]] = d["outcome"]
            status.update(_bar(len(settled), len(ids), time.time() - started))
            if len(settled) == len(ids):
                break
            time.sleep(1.0)
    finally:
        status.clear()
    counts: dict[str, int] = {}
    for outcome in settled.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    _print(
        {
            "replay_id": queued["replay_id"],
            "queued": queued["queued"],
            "outcomes": counts,
            "pending": len(ids) - len(settled),
        }
    )
    return 0 if len(settled) == len(ids) else 1


def _bar(done: int, total: int, elapsed: float, width: int = 30) -> str:
    filled = width * done // max(total, 1)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} settled  {elapsed:.0f}s"


def _instance_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instance", help="instance id (in_...), or the function's name")
    parser.add_argument(
        "--instance", dest="which", help="which of the function's instances (id or source id)"
    )


def add_commands(sub: Any) -> None:
    """Register deploy, versions, rollback, test, sources and audit."""
    deploy = sub.add_parser("deploy", help="upload a function folder and deploy it")
    deploy.add_argument("path")
    deploy.add_argument(
        "--name", help="function name (default: function.toml's name, else the folder's)"
    )
    deploy.add_argument("--source", help="source id or name to attach the instance to")
    deploy.add_argument("--settings", metavar="FILE", help="JSON file with settings values")
    deploy.add_argument(
        "--insert",
        metavar="INSTANCE",
        help="an insert function's instance to run before this destination ('' detaches)",
    )
    deploy.add_argument(
        "--dry-run",
        action="store_true",
        help="check the folder (and --settings) locally and print the plan; no API call",
    )
    deploy.add_argument(
        "--no-deploy", action="store_true", help="upload the version only; instances stay put"
    )
    deploy.set_defaults(run=cmd_deploy)

    versions = sub.add_parser("versions", help="list a function's versions")
    versions.add_argument("name")
    versions.add_argument("--json", action="store_true")
    versions.set_defaults(run=cmd_versions)

    rollback = sub.add_parser("rollback", help="point a function's instance at an earlier version")
    rollback.add_argument("name")
    rollback.add_argument("version", help="version id, or its number (3 or v3)")
    rollback.add_argument("--instance")
    rollback.set_defaults(run=cmd_rollback)

    test = sub.add_parser("test", help="run a deployed function's version on an event")
    test.add_argument("name")
    test.add_argument("--event", required=True, metavar="FILE")
    test.add_argument("--settings", metavar="FILE")
    test.add_argument("--version", help="version id or number (3 or v3; default: the latest)")
    test.add_argument("--instance", help="use this instance's settings (id or source id)")
    test.set_defaults(run=cmd_test)

    sources = sub.add_parser("sources", help="manage sources")
    sources_sub = sources.add_subparsers(dest="sources_command", required=True)
    create = sources_sub.add_parser("create", help="create a source; prints its write key")
    create.add_argument("name")
    create.set_defaults(run=cmd_sources_create)
    rotate = sources_sub.add_parser(
        "rotate-webhook",
        help="issue a new webhook URL for the source's source functions (the old one stops "
        "working); prints it once",
    )
    rotate.add_argument("source", help="source name or id")
    rotate.set_defaults(run=cmd_sources_rotate_webhook)
    add_source_commands(sources_sub)

    logs = sub.add_parser("logs", help="show an instance's deliveries with logs and requests")
    _instance_ref(logs)
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new ones")
    logs.add_argument("--outcome", help="delivered, filtered, rejected, retry or failed")
    logs.add_argument("--limit", type=int, default=50)
    logs.set_defaults(run=cmd_logs)

    stats = sub.add_parser("stats", help="counts per outcome and p50 / p95 duration")
    _instance_ref(stats)
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(run=cmd_stats)

    replay = sub.add_parser("replay", help="send dead-lettered events of an instance again")
    _instance_ref(replay)
    replay.add_argument("--version", help="run them through this version (id, 3 or v3)")
    replay.add_argument("--since", help="only events received since (ISO-8601)")
    replay.add_argument(
        "--include",
        action="append",
        choices=["filtered", "rejected"],
        help="also replay filtered / rejected events; repeatable",
    )
    replay.add_argument(
        "--wait",
        type=float,
        default=120.0,
        help="seconds to wait for the new outcomes (default 120)",
    )
    replay.set_defaults(run=cmd_replay)

    audit = sub.add_parser("audit", help="show the workspace's audit log, newest first")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(run=cmd_audit)
    add_operate_commands(sub)
