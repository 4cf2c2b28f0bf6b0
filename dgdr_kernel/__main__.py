import sys

from dgdr_kernel.cli import main

sys.exit(main())
