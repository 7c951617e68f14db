import signal
import sys

from gen.cli import main

# Like any filter: `python -m gen list | head` ends quietly.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
sys.exit(main())
