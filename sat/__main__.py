"""``python -m sat …`` (and ``torchrun -m sat train …``): the same as the ``sat`` command."""
import sys

from .cli import main

sys.exit(main())
