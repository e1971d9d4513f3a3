"""`python -m integrations.worker` (or `ybjg-outbox`): the production outbox worker. It sends the
outbox's due messages through the configured senders until stopped; run one or several beside the
web workers and `ybjg scheduler` (a message is leased by one worker at a time)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence

from engine import outbox
from engine.db import default_url, make_engine, make_session_factory
from integrations.senders import SenderSettings, build_senders


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ybjg-outbox", description="发送待发消息（邮件等）")
    parser.add_argument("--once", action="store_true", help="发送一轮到期消息后退出")
    parser.add_argument("--interval", type=float, default=5.0, help="两轮之间的秒数")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        settings = SenderSettings.from_env(os.environ)
    except ValueError as exc:
        print(f"邮件服务器配置有误：{exc}", file=sys.stderr)
        return 2
    factory = make_session_factory(make_engine(os.environ.get("DATABASE_URL") or default_url()))
    senders = build_senders(settings, factory)
    if args.once:
        done = outbox.dispatch_due(factory, senders)
        sent = sum(1 for d in done if d.status == outbox.Status.SENT)
        print(f"已处理 {len(done)} 条消息，发送成功 {sent} 条")
        return 0
    stop = threading.Event()
    print(f"发送进程运行中（渠道：{'、'.join(sorted(senders))}；Ctrl+C 停止）", flush=True)
    try:
        outbox.run_worker(factory, senders, stop, interval=args.interval)
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
