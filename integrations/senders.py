"""The outbox's senders, one per channel, built from the settings. Entry points (the web app's
embedded worker, `python -m integrations.worker`) read the environment once through
`SenderSettings.from_env` and hand the settings here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from engine.db import ROOT
from engine.outbox import Sender
from integrations.dropfolder import DropFolderSender
from integrations.mail import SmtpSender
from integrations.packages import PackageStores, PackagingSender
from integrations.webhook import WebhookSender, secrets_from


@dataclass(frozen=True)
class SenderSettings:
    smtp_host: str = ""  # empty: no email channel (messages wait in the outbox until configured)
    smtp_port: int = 25
    smtp_from: str = "ybjg@localhost"
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_timeout: float = 30.0
    public_url: str = ""  # the web app's address, for links in emails
    # Referral packages (移送材料包) are built from the document and evidence stores into package_dir.
    document_dir: str = str(ROOT / "instance" / "documents")
    evidence_dir: str = str(ROOT / "instance" / "evidence")
    package_dir: str = str(ROOT / "instance" / "packages")
    webhook_timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SenderSettings:
        """The settings from YBJG_SMTP_* and YBJG_PUBLIC_URL; raises ValueError on a bad number."""
        return cls(
            smtp_host=env.get("YBJG_SMTP_HOST", ""),
            smtp_port=int(env.get("YBJG_SMTP_PORT") or 25),
            smtp_from=env.get("YBJG_SMTP_FROM") or "ybjg@localhost",
            smtp_starttls=env.get("YBJG_SMTP_STARTTLS", "0") == "1",
            smtp_user=env.get("YBJG_SMTP_USER", ""),
            smtp_password=env.get("YBJG_SMTP_PASSWORD", ""),
            smtp_timeout=float(env.get("YBJG_SMTP_TIMEOUT") or 30),
            public_url=env.get("YBJG_PUBLIC_URL", ""),
            document_dir=env.get("YBJG_DOCUMENT_DIR") or cls.document_dir,
            evidence_dir=env.get("YBJG_EVIDENCE_DIR") or cls.evidence_dir,
            package_dir=env.get("YBJG_PACKAGE_DIR") or cls.package_dir,
            webhook_timeout=float(env.get("YBJG_WEBHOOK_TIMEOUT") or 30),
        )

    def package_stores(self) -> PackageStores:
        return PackageStores(Path(self.document_dir), Path(self.evidence_dir), Path(self.package_dir))


def build_senders(
    settings: SenderSettings, sessions: sessionmaker[Session] | None = None
) -> dict[str, Sender]:
    """channel -> sender for every channel the settings configure. Each also carries referral
    packages; the webhook channel reads its signing secrets through `sessions` (none: no webhook)."""
    stores = settings.package_stores()
    senders: dict[str, Sender] = {"dropfolder": PackagingSender(DropFolderSender(), stores)}
    if sessions is not None:
        webhook = WebhookSender(secret_for=secrets_from(sessions), timeout=settings.webhook_timeout)
        senders["webhook"] = PackagingSender(webhook, stores)
    if settings.smtp_host:
        senders["email"] = SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            from_address=settings.smtp_from,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
            public_url=settings.public_url,
        )
        senders["email"] = PackagingSender(senders["email"], stores)
    return senders
