"""What every benchmark records about the machine and the checkout it ran on."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import scipy

import hessjax as hj


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_state() -> dict | None:
    """Commit of the hessjax checkout and whether src/ has uncommitted changes."""
    root = Path(hj.__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True,
            text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit or None, "src_dirty": bool(dirty)}


def machine_info(packages: tuple[str, ...], load_before: float, **extra) -> dict:
    """Date, versions (core stack plus ``packages``), checkout, hardware and load."""
    info = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        jax=jax.__version__,
        jaxlib=package_version("jaxlib"),
        numpy=np.__version__,
        scipy=scipy.__version__,
    )
    info.update({name: package_version(name) for name in packages})
    info.update(hessjax=hj.__version__, hessjax_git=git_state())
    info.update(extra)
    info.update(
        python=sys.version.split()[0],
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        jax_devices=[str(d) for d in jax.devices()],
        loadavg_1min_before=load_before,
        loadavg_1min_after=os.getloadavg()[0],
    )
    return info


def write_results(out_dir: str | Path, name: str, report: dict, markdown_text: str) -> tuple[Path, Path]:
    """Write ``name.json`` and ``name.md`` under ``out_dir``; print the table; return both paths."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=2, default=float) + "\n")
    md_path.write_text(markdown_text)
    print("\n" + markdown_text)
    seconds = report.get("total_wall_s")
    timing = f" ({seconds:.0f} s)" if seconds is not None else ""
    print(f"wrote {json_path} and {md_path}{timing}")
    return json_path, md_path
