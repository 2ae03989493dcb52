"""``functions`` commands that list, change and delete what runs on a server:
``functions|instances|sources list``, ``diff``, ``instances enable|disable|delete``,
``settings show|set|unset``, ``functions delete``, ``sources delete|rotate-key`` and
``keys rotate``. Read commands take ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .client import ApiClient, ApiError, quote
from .resolve import instance_id, version_id

__all__ = ["add_operate_commands", "print_json"]


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def cmd_functions_list(args: argparse.Namespace) -> int:
    functions = ApiClient().call("GET", "/v1/functions")["functions"]
    if args.json:
        print_json(functions)
        return 0
    rows = [
        [f["name"], f["id"], f["kind"], str(f["version_count"]), f["updated_at"][:19]]
        for f in functions
    ]
    _table(rows, ["name", "id", "kind", "versions", "updated"])
    return 0


def cmd_instances_list(args: argparse.Namespace) -> int:
    api = ApiClient()
    query = f"?function={quote(args.function)}" if args.function else ""
    instances = api.call("GET", "/v1/instances" + query)["instances"]
    if args.json:
        print_json(instances)
        return 0
    names = {f["id"]: f["name"] for f in api.call("GET", "/v1/functions")["functions"]}
    versions: dict[str, int] = {}
    for fn_id in {i["function_id"] for i in instances}:
        for v in api.call("GET", f"/v1/functions/{quote(fn_id)}/versions")["versions"]:
            versions[v["id"]] = v["number"]
    rows = [
        [
            i["id"],
            names.get(i["function_id"], i["function_id"]),
            f"v{versions.get(i['version_id'], '?')}",
            i.get("source_id") or "-",
            "enabled" if i["enabled"] else "disabled",
        ]
        for i in instances
    ]
    _table(rows, ["instance", "function", "version", "source", "state"])
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    sources = ApiClient().call("GET", "/v1/sources")["sources"]
    if args.json:
        print_json(sources)
        return 0
    _table([[s["name"], s["id"], s["created_at"][:19]] for s in sources], ["name", "id", "created"])
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    api = ApiClient()
    a, b = version_id(api, args.name, args.a), version_id(api, args.name, args.b)
    diff = api.call("GET", f"/v1/versions/{quote(a)}/diff/{quote(b)}")["diff"]
    if args.json:
        print_json({"from": a, "to": b, "diff": diff})
    else:
        sys.stdout.write(diff)
    return 0


def _patch(ref: str, explicit: str | None, body: dict[str, Any]) -> dict[str, Any]:
    api = ApiClient()
    target = instance_id(api, ref, explicit)
    instance: dict[str, Any] = api.call("PATCH", f"/v1/instances/{quote(target)}", body)["instance"]
    return instance


def cmd_enable(args: argparse.Namespace) -> int:
    instance = _patch(args.instance, args.which, {"enabled": args.enabled})
    state = "enabled" if instance["enabled"] else "disabled"
    print(f"{instance['id']} {state}")
    return 0


def cmd_instances_delete(args: argparse.Namespace) -> int:
    api = ApiClient()
    target = instance_id(api, args.instance, args.which)
    deleted = api.call("DELETE", f"/v1/instances/{quote(target)}")["instance"]
    print(f"{deleted['id']} deleted (it receives no more events)")
    return 0


def cmd_functions_delete(args: argparse.Namespace) -> int:
    deleted = ApiClient().call("DELETE", f"/v1/functions/{quote(args.name)}")["function"]
    print(f"{deleted['name']} ({deleted['id']}) deleted with its instances")
    return 0


def cmd_sources_delete(args: argparse.Namespace) -> int:
    deleted = ApiClient().call("DELETE", f"/v1/sources/{quote(args.source)}")["source"]
    print(f"{deleted['name']} ({deleted['id']}) deleted; its write key no longer works")
    return 0


def cmd_sources_rotate_key(args: argparse.Namespace) -> int:
    print_json(ApiClient().call("POST", f"/v1/sources/{quote(args.source)}/write-key"))
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    rotated = ApiClient().call("POST", "/v1/keys/rotate")
    print_json(rotated)
    print("the old key no longer works: export FUNCTIONS_API_KEY=<the new one>", file=sys.stderr)
    return 0


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=text`` (a string) or ``key:=json`` (a number, boolean, array or object)."""
    name, sep, raw = text.partition("=")
    if not sep or not name.rstrip(":"):
        raise ApiError(f"{text!r}: expected key=value (a string) or key:=JSON")
    if name.endswith(":"):
        try:
            return name[:-1], json.loads(raw)
        except ValueError as exc:
            raise ApiError(f"{text!r}: the value after := is not JSON: {exc}") from None
    return name, raw


def cmd_settings_show(args: argparse.Namespace) -> int:
    api = ApiClient()
    target = instance_id(api, args.instance, args.which)
    settings = api.call("GET", f"/v1/instances/{quote(target)}")["instance"]["settings"]
    if args.json:
        print_json(settings)
        return 0
    for name, value in sorted(settings.items()):
        print(f"{name} = {json.dumps(value)}")
    return 0


def cmd_settings_set(args: argparse.Namespace) -> int:
    changes = dict(parse_assignment(a) for a in args.assignments)
    print_json(_patch(args.instance, args.which, {"settings": changes})["settings"])
    return 0


def cmd_settings_unset(args: argparse.Namespace) -> int:
    changes = dict.fromkeys(args.names)  # null removes a setting
    print_json(_patch(args.instance, args.which, {"settings": changes})["settings"])
    return 0


def _instance_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instance", help="instance id, or the function's name")
    parser.add_argument(
        "--instance", dest="which", help="which of the function's instances (id or source)"
    )


def add_operate_commands(sub: Any) -> None:
    """Register functions, instances, diff, settings and keys; add to ``sources``."""
    functions = sub.add_parser("functions", help="list or delete functions")
    fsub = functions.add_subparsers(dest="functions_command", required=True)
    flist = fsub.add_parser("list", help="the workspace's functions")
    flist.add_argument("--json", action="store_true")
    flist.set_defaults(run=cmd_functions_list)
    fdel = fsub.add_parser("delete", help="delete a function and its instances (soft, audited)")
    fdel.add_argument("name")
    fdel.set_defaults(run=cmd_functions_delete)

    instances = sub.add_parser("instances", help="list, enable, disable or delete instances")
    isub = instances.add_subparsers(dest="instances_command", required=True)
    ilist = isub.add_parser("list", help="instances with their function, version and source")
    ilist.add_argument("--function", help="only this function's (name or id)")
    ilist.add_argument("--json", action="store_true")
    ilist.set_defaults(run=cmd_instances_list)
    for name, enabled in (("enable", True), ("disable", False)):
        toggle = isub.add_parser(name, help=f"{name} an instance (events reach it or not)")
        _instance_args(toggle)
        toggle.set_defaults(run=cmd_enable, enabled=enabled)
    idel = isub.add_parser("delete", help="delete an instance (soft, audited)")
    _instance_args(idel)
    idel.set_defaults(run=cmd_instances_delete)

    diff = sub.add_parser("diff", help="unified diff of two versions of a function")
    diff.add_argument("name")
    diff.add_argument("a", help="version id or number (3 or v3)")
    diff.add_argument("b", help="version id or number")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(run=cmd_diff)

    settings = sub.add_parser("settings", help="show or change an instance's settings")
    ssub = settings.add_subparsers(dest="settings_command", required=True)
    show = ssub.add_parser("show", help="the settings (secrets as ***)")
    _instance_args(show)
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_settings_show)
    set_ = ssub.add_parser("set", help="set settings: key=text or key:=JSON; others stay")
    _instance_args(set_)
    set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    set_.set_defaults(run=cmd_settings_set)
    unset = ssub.add_parser("unset", help="remove settings; others stay")
    _instance_args(unset)
    unset.add_argument("names", nargs="+", metavar="KEY")
    unset.set_defaults(run=cmd_settings_unset)

    keys = sub.add_parser("keys", help="API keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    krot = ksub.add_parser("rotate", help="replace this API key; prints the new one once")
    krot.set_defaults(run=cmd_keys_rotate)


def add_source_commands(sources_sub: Any) -> None:
    """``sources list|delete|rotate-key`` beside ``create`` and ``rotate-webhook``."""
    slist = sources_sub.add_parser("list", help="the workspace's sources")
    slist.add_argument("--json", action="store_true")
    slist.set_defaults(run=cmd_sources_list)
    sdel = sources_sub.add_parser(
        "delete", help="delete a source with no instances; its write key stops working"
    )
    sdel.add_argument("source", help="source name or id")
    sdel.set_defaults(run=cmd_sources_delete)
    srot = sources_sub.add_parser(
        "rotate-key", help="issue a new write key (the old one stops working); prints it once"
    )
    srot.add_argument("source", help="source name or id")
    srot.set_defaults(run=cmd_sources_rotate_key)
