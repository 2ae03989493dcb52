"""``python -m functions_runtime.demo``."""

import sys

from .run import main

sys.exit(main())
