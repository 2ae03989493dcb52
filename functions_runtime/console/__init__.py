"""The web console: its built assets (``static/``, from ``console/`` by ``make console``)
and the lookup that serves them with a strict Content-Security-Policy (``assets``).

It imports nothing of the runtime (the console talks only to the public HTTP API, from
the browser); ``api`` imports it to serve ``/`` and ``/assets/...``.
"""
