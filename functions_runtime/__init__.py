"""Functions: the platform that compiles customer handlers in a sandbox and delivers events.

Parts, from the bottom up: ``manifest`` and ``sandbox`` (compile and run customer code),
``control`` (functions, versions, instances, sources), ``delivery`` (ingest, queue,
dispatch, replay), ``api`` (the HTTP API), then the ways to run it: ``server``
(``functions serve``), ``lambdas`` (AWS), ``cli`` and ``demo``. A part never imports one
above it; ``tests/unit/test_layers.py`` enforces the rules each package states.
"""
