"""The HTTP API Lambda (control plane, ingest, deliveries): ``handler``."""

from __future__ import annotations

from typing import Any

from .runtime import build_runtime, start_pool

# The sandbox's zygote and isolation probe start in their own process now, while the
# app's modules import (docs/PERFORMANCE.md, "Lambda cold start").
_pool = start_pool()

from aws_lambda_powertools.logging import Logger  # noqa: E402
from aws_lambda_powertools.metrics import Metrics  # noqa: E402
from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from ..api.app import build_app  # noqa: E402
from .observe import traced  # noqa: E402

logger = Logger()
metrics = Metrics()

runtime = build_runtime(pool=_pool)
app = build_app(runtime.plane, runtime.ingest, runtime.delivery, runtime.dispatcher)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
