"""The sandbox: compiles customer code under our policy and runs it in confined workers.

``compiler`` and ``policy`` are shared by upload checks and the worker. ``guest/`` runs
inside the worker process; ``host/`` runs in the platform and drives workers. Nothing
here imports ``control``, ``delivery``, ``api``, ``server``, ``lambdas``, ``cli`` or boto3;
``guest`` never imports ``host``.
"""
