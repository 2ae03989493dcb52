"""Thin AWS Lambda entry points: build clients once per cold start, call the services.

They may import ``api``, ``control`` and ``delivery`` with their AWS backends, and
``sandbox.host``; never an embedded backend, ``server``, ``cli`` or development tooling.
``local_invoke`` is the local harness that runs these handlers from ``template.yaml``.
"""
