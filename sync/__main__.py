from sync.entry.cli import main

raise SystemExit(main())
