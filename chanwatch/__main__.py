"""`python -m chanwatch` is the `chanwatch` command."""

from chanwatch.cli import main

raise SystemExit(main())
