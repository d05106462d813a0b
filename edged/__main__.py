"""``python -m edged`` is the ``edged`` command."""

from edged.cli import main

raise SystemExit(main())
