"""`python -m webui`: serve the embedded default (SQLite, one scheduler thread and one outbox worker
thread) on 127.0.0.1:5000."""

from __future__ import annotations

import argparse
import logging

from engine import outbox, timers
from integrations.senders import build_senders
from webui import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m webui")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    app = create_app()
    if app.config["YBJG"].run_scheduler:
        timers.start_scheduler_thread(app.extensions["ybjg_sessions"])
        # The outbox worker beside it: emails and other messages leave after their step commits.
        sessions = app.extensions["ybjg_sessions"]
        outbox.start_worker_thread(sessions, build_senders(app.config["YBJG"].senders, sessions))
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
