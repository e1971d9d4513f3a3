"""Open BPMN/DMN files in bpmn-js and dmn-js (headless Chromium) through `tools/render_bpmn.mjs`.

`import_warnings` reports what the *Modeler* says on import: a process owner opening the file in the
embedded modeller would see the same. `render_png` draws a diagram as the Viewer shows it.
Needs node, `npm ci` (node_modules) and /usr/bin/chromium: `make node_modules chromium` installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "render_bpmn.mjs"
TIMEOUT = 300  # seconds for one browser session


class RenderError(Exception):
    """The browser session failed (not a diagram's import warnings)."""


def chromium_path() -> Path:
    return Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def missing_prerequisites() -> list[str]:
    """What is missing to run bpmn-js in headless Chromium; empty when everything is in place."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node (Node.js 20)")
    for package in ("bpmn-js", "dmn-js", "playwright-core"):
        if not (ROOT / "node_modules" / package / "package.json").is_file():
            missing.append(f"node_modules/{package} (run `make node_modules`)")
    if not chromium_path().is_file():
        missing.append(f"{chromium_path()} (run `make chromium`)")
    return missing


def _run(paths: Iterable[Path | str], png_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    args = ["node", str(SCRIPT)]
    if png_dir is not None:
        args += ["--png-dir", str(png_dir)]
    given = {str(Path(p).resolve()): str(p) for p in paths}
    args += list(given)
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"cannot run {SCRIPT.name}: {exc}") from exc
    if done.returncode != 0:
        raise RenderError(f"{SCRIPT.name} exited {done.returncode}: {done.stderr.strip()}")
    files: dict[str, dict[str, Any]] = json.loads(done.stdout)["files"]
    return {given[path]: entry for path, entry in files.items()}


def import_warnings(paths: Iterable[Path | str]) -> dict[str, list[str]]:
    """Each file's import warnings in the bpmn-js (or dmn-js) Modeler; a failed import is one more entry."""
    paths = [str(p) for p in paths]
    if not paths:
        return {}
    result = _run(paths)
    return {
        path: list(result[path]["warnings"])
        + ([f"import failed: {result[path]['error']}"] if result[path]["error"] else [])
        for path in paths
    }


def render_pngs(paths: Iterable[Path | str], out_dir: Path) -> dict[str, Path]:
    """Render each file to out_dir/<stem>.png in one browser session; raises RenderError if one fails."""
    paths = [str(p) for p in paths]
    if not paths:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    result = _run(paths, out_dir)
    failed = {p: e["error"] for p, e in result.items() if e["png"] is None}
    if failed:
        raise RenderError(f"not rendered: {failed}")
    return {path: Path(result[path]["png"]) for path in paths}


def render_png(path: Path | str, out_png: Path | str) -> Path:
    """Render one file to out_png (PNG, the whole diagram at 100 %)."""
    out_png = Path(out_png)
    with tempfile.TemporaryDirectory() as tmp:
        rendered = render_pngs([path], Path(tmp))[str(path)]
        out_png.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(rendered, out_png)
    return out_png
