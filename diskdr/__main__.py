from diskdr.cli import main

raise SystemExit(main())
