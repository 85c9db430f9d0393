from streamsuite_web.cli import main

raise SystemExit(main())
