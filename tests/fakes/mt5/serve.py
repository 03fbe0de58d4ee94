"""An rpyc classic server with the fake MetaTrader5 importable: what ``python -m mt5linux`` runs under Wine.

python serve.py SCENARIO.json PORT    (PORT 0 picks a free one; the chosen port is printed first)
python serve.py - PORT                a bridge whose Python lacks MetaTrader5
"""

import json
import sys
from pathlib import Path

from rpyc.core import SlaveService
from rpyc.utils.server import ThreadedServer

FAKES = sys.path.pop(0)  # Python put this script's folder first: the fake is importable only on request
if sys.argv[1] != "-":
    sys.path.insert(0, FAKES)
    import MetaTrader5  # the fake, from this folder

    MetaTrader5._fake.load(json.loads(Path(sys.argv[1]).read_text()))
server = ThreadedServer(SlaveService, hostname="127.0.0.1", port=int(sys.argv[2]), reuse_addr=True, auto_register=False)
server._listen()  # listen before telling the port (start() would only listen later)
print(server.port, flush=True)
server.start()
