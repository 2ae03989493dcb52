"""The delivery worker Lambda (SQS event source, ``ReportBatchItemFailures``): ``handler``.

The whole batch goes through the dispatcher at once (so ``on_batch`` functions get
batches); then Powertools' ``process_partial_response`` settles each record: acked
and dead-lettered records succeed (Lambda deletes them), records to retry have their
visibility set to the backoff and are reported as failures, so SQS keeps exactly those.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

# Powertools' batch utility first: imported once pydantic is, it also imports and builds
# its parser's pydantic models for every event source (about 70 ms of CPU at a cold
# start), which a processor without a model never uses. Nothing above imports pydantic;
# tests/unit/test_lambda_cold_start.py checks that the parser stays out.
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from .runtime import build_runtime, start_pool, warm_in_background

# The worker template (the zygote) imports the SDK and the sandbox in its own process,
# from now on, while this module's imports go on: a new instance's first event then
# costs a fork, not a Python start (docs/PERFORMANCE.md, "Lambda cold start").
_pool = start_pool()

from aws_lambda_powertools.logging import Logger  # noqa: E402
from aws_lambda_powertools.metrics import Metrics, MetricUnit  # noqa: E402

from .observe import traced  # noqa: E402

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from ..delivery.dispatch import Settlement
    from ..delivery.ports import Job

logger = Logger()
metrics = Metrics()

# The pool is waited for by the first event (a strict-mode isolation failure fails it,
# and every event after it); the clients, the dispatcher and Powertools' idempotency
# utility are built by a thread started at the end of this module, while the zygote
# is still starting (docs/PERFORMANCE.md, "Lambda cold start").
runtime = build_runtime(pool=_pool)
# Retries are reported item by item even when every record of a batch is one.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RetryLater(Exception):
    """Reported as a batch item failure: SQS redelivers the record after its backoff."""


def job_from(record: dict[str, Any]) -> Job:
    """The queue message as a job; a body that is not a JSON object is kept raw."""
    from ..delivery.aws.messages import plain_object
    from ..delivery.ports import Job

    attributes = record.get("attributes") or {}
    sent = int(attributes.get("SentTimestamp", "0")) / 1000
    body, plain = plain_object(record["body"])
    if body is None:
        body = {"malformed": str(record.get("body", ""))[:200_000]}
    return Job(
        id=record["messageId"],
        body=body,
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        sent_at=datetime.fromtimestamp(sent, UTC),
        receipt=record["receiptHandle"],
        plain=plain,
    )


def settle(settlement: Settlement) -> None:
    """The per-record unit: apply one settlement (raise to keep the record on the queue)."""
    body = settlement.job.body
    logger.append_keys(
        workspace=body.get("workspace_id"),
        instance=body.get("instance_id"),
        messageId=body.get("message_id"),
        version=body.get("version_id"),
    )
    if settlement.outcome:
        metrics.add_metric(name=f"Delivery_{settlement.outcome}", unit=MetricUnit.Count, value=1)
    if settlement.action == "retry":
        metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)
        runtime.delivery.queue.retry(settlement.job, settlement.delay)
        raise RetryLater(f"retry in {settlement.delay} s")
    if settlement.action == "dead":
        runtime.delivery.queue.dead_letter(settlement.job, settlement.reason)
        logger.warning("dead-lettered", reason=settlement.reason)


@logger.inject_lambda_context
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from ..delivery.dispatch import Settlement

    jobs = [job_from(r) for r in event.get("Records") or []]
    # A malformed message is dead-lettered on its own; it never holds up the batch.
    settlements = {
        j.id: Settlement(j, "dead", reason="malformed body: not a JSON object")
        for j in jobs
        if "malformed" in j.body
    }
    good = [j for j in jobs if "malformed" not in j.body]
    settlements.update({s.job.id: s for s in runtime.dispatcher.process(good)})

    def record_handler(record: SQSRecord) -> None:
        settle(settlements[record.message_id])

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


# Last: what the first event needs, built while the zygote is still starting.
warm_in_background(runtime, "dispatcher", clients=("dynamodb", "s3"))
