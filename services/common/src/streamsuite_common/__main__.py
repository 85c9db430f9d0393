from streamsuite_common.check import main

raise SystemExit(main())
