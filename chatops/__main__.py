from chatops.cli import main

raise SystemExit(main())
