"""``python -m stackgame`` is the ``stackgame`` command."""

import sys

from stackgame.cli import main

sys.exit(main())
