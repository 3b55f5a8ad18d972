import sys

from inventory_sync.cli import main

sys.exit(main())
