import sys

from mbtop.cli import main

sys.exit(main())
