"""Delivery: the queue, delivery records, ingest and the workers that run events."""
