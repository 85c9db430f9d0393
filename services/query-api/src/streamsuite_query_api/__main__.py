from streamsuite_query_api.cli import main

raise SystemExit(main())
