from streamsuite_ingestor.cli import main

raise SystemExit(main())
