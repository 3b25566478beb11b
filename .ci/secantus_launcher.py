"""Starts SecantusDB (a MongoDB wire-compatible server) for tessera-mongo's tests.

Usage: python secantus_launcher.py PORT

In-memory storage and a 1 s TTL sweep (the `secantusd-py` command ignores the sweep
setting, hence this launcher). Prints "ready <uri>" once listening; stops on SIGTERM/SIGINT.
"""
import signal
import sys
import threading

from secantus import SecantusDBServer


def main() -> None:
    port = int(sys.argv[1])
    srv = SecantusDBServer(
        host="127.0.0.1",
        port=port,
        storage_path=":memory:",
        ttl_sweep_seconds=1.0,
        cache_size="64M",
    )
    srv.start()
    print("ready", srv.uri, flush=True)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    done.wait()
    srv.stop()


if __name__ == "__main__":
    main()
