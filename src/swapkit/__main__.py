from swapkit.cli import main

raise SystemExit(main())
