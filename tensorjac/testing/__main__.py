"""``python -m tensorjac.testing``: print the verification table (see :func:`tensorjac.testing.main`)."""

import sys

from tensorjac.testing import main

sys.exit(main())
