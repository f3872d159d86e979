"""An interactive client: now the ``client`` command of ``python -m ws``.

    python examples/client.py ws://127.0.0.1:8000/
    python examples/client.py --cafile example-ca.pem wss://localhost:8443/

is the same as ``python -m ws client ...`` (or the installed ``trio-ws
client ...``): type a line to send it, and see each message received after
``< ``. ``/ping`` pings, ``/close 4000 done`` closes with a code and a
reason, and the end of the input (Ctrl-D) closes with 1000. It exits 0 after
a normal close, 1 when it could not connect, 3 when the connection closed
abnormally. ``python -m ws client --help`` lists the options, and
``docs/cli.md`` has more; ``ws/cli.py`` is the code, for an example of the
API in a real program.
"""

from __future__ import annotations

import sys

from ws.cli import main

if __name__ == "__main__":
    sys.exit(main(["client", *sys.argv[1:]]))
