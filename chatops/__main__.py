"""``python -m chatops``: the ``chatops`` command."""

from chatops.cli import main

raise SystemExit(main())
