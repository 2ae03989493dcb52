"""Run by the tools environment's python (aws-sam-translator): print the template
transformed to plain CloudFormation, as JSON.

    python _sam_translate.py TEMPLATE

Offline: the managed-policy loader is a stub (the template names no managed policy,
so the translator never needs one) and CodeUri becomes a placeholder s3:// URI (the
translator only accepts S3 locations; `sam build` / `sam package` make the real one).
"""

from __future__ import annotations

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class StubManagedPolicyLoader:
    def load(self) -> dict[str, str]:
        return {}


def main(path: str) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    template["Globals"]["Function"]["CodeUri"] = "s3://placeholder-bucket/functions.zip"
    transformed = transform(template, {}, StubManagedPolicyLoader())
    json.dump(transformed, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
