"""The HTTP API Lambda (control plane, ingest, deliveries): ``handler``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..api.app import build_app
from .runtime import build_runtime

logger = Logger()
tracer = Tracer()
metrics = Metrics()

runtime = build_runtime()
app = build_app(runtime.plane, runtime.ingest, runtime.delivery, runtime.dispatcher)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
