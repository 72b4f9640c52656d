"""The persistent compilation cache: library call and CLI default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

import hessjax as hj
from hessjax.compilation_cache import default_cache_dir


def test_enable_honors_an_existing_setting_and_sets_none_otherwise(tmp_path, monkeypatch):
    previous = jax.config.jax_compilation_cache_dir
    previous_min = jax.config.jax_persistent_cache_min_compile_time_secs
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        folder = tmp_path / "cache"
        assert hj.enable_compilation_cache(folder) == str(folder)
        assert folder.is_dir() and jax.config.jax_compilation_cache_dir == str(folder)
        # Already set (by the user or an earlier call): used as it is, nothing changes.
        assert hj.enable_compilation_cache(tmp_path / "other") == str(folder)
        assert not (tmp_path / "other").exists()
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", previous_min)


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == os.path.join(str(tmp_path), "hessjax", "jax")


def test_bad_path_type_is_a_type_error(monkeypatch):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    previous = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        with pytest.raises(TypeError, match="path"):
            hj.enable_compilation_cache(3)
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)


def test_cli_check_writes_the_cache_by_default_and_not_with_no_cache(tmp_path):
    """`hessjax check` keeps its compiled programs in $XDG_CACHE_HOME/hessjax/jax, so a
    second run loads them (measured: 10.3 s -> 5.2 s for a 5-parameter model)."""
    model = tmp_path / "model.py"
    model.write_text(textwrap.dedent("""
        import numpy as np, jax.numpy as jnp
        y = np.array([0.5, 1.5, 1.0, 2.0, 0.0, 1.2])
        def loglik(p, y):
            return -0.5 * ((y - p[0]) / jnp.exp(p[1])) ** 2 - p[1]
        init = np.zeros(2)
        data = (y,)
    """))
    env = {k: v for k, v in os.environ.items()
           if k not in ("HESSJAX_NO_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env["JAX_PLATFORMS"] = "cpu"
    run = subprocess.run([sys.executable, "-m", "hessjax", "check", str(model), "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["valid"] is True
    cache = tmp_path / "xdg" / "hessjax" / "jax"
    assert cache.is_dir() and any(cache.iterdir())


def test_cli_runs_without_the_cache_when_it_cannot_be_created(tmp_path, monkeypatch, capsys):
    """A read-only home must not turn every `hessjax check` into exit 2."""
    from hessjax import cli

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.delenv("HESSJAX_NO_COMPILATION_CACHE", raising=False)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # makedirs under a file fails
    previous = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        assert cli.main(["check", str(tmp_path / "missing.py")]) == 2  # the model's error, not the cache's
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
    err = capsys.readouterr().err
    assert "compilation cache not used" in err and "missing.py" in err
