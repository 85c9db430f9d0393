from devstack.bench.run import main

raise SystemExit(main())
