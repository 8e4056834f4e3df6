from sigward.cli.main import main

raise SystemExit(main())
