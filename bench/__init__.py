"""Benchmarks for the functions runtime (``python -m bench``, ``make bench``).

Three scenarios, each a function that returns a JSON-ready dict:

* ``warm`` (:func:`bench.warm.run_warm`): the per-event cost of one realistic
  destination handler through the sandbox, called in-process as plain Python, and
  in a Powertools SQS batch handler;
* ``cold`` (:func:`bench.cold.run_cold`): a new version's first event, and the cold
  import time of the runtime's entry points;
* ``many`` (:func:`bench.many.run_many`): many instances sharing one worker pool:
  memory, evictions, worker starts, throughput.

:func:`bench.cli.run` runs them against a local HTTP sink, prints the tables and
writes ``bench/results.json``. ``python -m bench.profile`` profiles the sandboxed path.
"""

__all__: list[str] = []
