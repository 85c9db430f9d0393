from streamsuite_publisher.cli import main

raise SystemExit(main())
