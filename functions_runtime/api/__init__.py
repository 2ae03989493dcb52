"""The HTTP API, written once with Powertools' event handler (API Gateway and ``serve``).

It may import ``control`` and ``delivery`` (their service layers and ports, never a
backend package), ``console`` (the web console's built assets, served at ``/``) and
Powertools. Only ``server``, ``lambdas`` and ``cli`` import it; it
never imports them.
"""
