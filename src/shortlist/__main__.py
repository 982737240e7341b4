"""``python -m shortlist`` runs the CLI."""

import sys

from shortlist.cli.main import main

sys.exit(main())
