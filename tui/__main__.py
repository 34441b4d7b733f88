"""`python -m tui ...` is `inspector ...`."""

from tui.cli import main

raise SystemExit(main())
