import sys

from devstack.chartcheck.cli import main

sys.exit(main())
