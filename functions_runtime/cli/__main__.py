"""``python -m functions_runtime.cli``: the same as the ``functions`` command."""

import sys

from .main import main

sys.exit(main())
