"""The CLI contract (issue 11): exit status 0 valid, 1 NOT VALID, 2 no verdict.

A CI gate reads exit status 1 as "the estimate is not valid", so nothing else
may exit 1: an exception raised by the user's ``loglik``, a ``sys.exit`` in the
model file, a missing file, an unwritable ``--plot`` path all exit 2 with one
line on stderr. ``--json`` output is strict JSON (no NaN/Infinity tokens) and
errors in ``--json`` mode are JSON on stdout. Whatever the model prints goes
to stderr, so stdout holds only the result.
"""

import contextlib
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hessjax.cli import main

NORMAL = textwrap.dedent(
    """
    import numpy as np
    import jax.numpy as jnp

    def loglik(p, y):
        return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]

    y = np.random.default_rng(0).normal(1.0, 2.0, size=50)
    init = {"mu": 0.0, "log_sigma": 0.0}
    data = (y,)
    """
)

# Lines that make the model's loglik fail; every one must exit 2, not 1.
BAD_LOGLIKS = {
    "KeyError": ('return -0.5 * (y - p["c"]) ** 2', "KeyError: 'c'"),
    "AttributeError": ("return p.mean", "AttributeError"),
    "ZeroDivisionError": ("return 1 / 0", "ZeroDivisionError: division by zero"),
    "custom": ("raise type('ModelBug', (Exception,), {})('bad row 7')", "ModelBug: bad row 7"),
    "multiline": ('raise RuntimeError("first line\\nsecond line")', "RuntimeError: first line"),
}


def _model_with_loglik(body: str) -> str:
    return NORMAL.replace(
        'return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]', body
    )


def _strict_loads(text: str):
    """json.loads that rejects NaN, Infinity and -Infinity (which Python accepts by default)."""

    def reject(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, lines
    assert lines[-1] == errors[0]
    return errors[0]


@pytest.mark.parametrize("kind", sorted(BAD_LOGLIKS))
def test_loglik_exception_exits_2_not_1(tmp_path, capsys, kind):
    body, expected = BAD_LOGLIKS[kind]
    path = tmp_path / "m.py"
    path.write_text(_model_with_loglik(body))
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert line.startswith("hessjax check: error:") and expected in line
    assert "second line" not in line
    assert "loglik" in line and "m.py line" in line  # names where in the model it happened
    assert captured.out == ""


def test_loglik_keyerror_exits_2_not_1(tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_text(_model_with_loglik('return -0.5 * (y - p["c"]) ** 2'))
    assert main(["check", str(path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "KeyError: 'c'" in line and "loglik, model.py line 6" in line


@pytest.mark.parametrize("code", [0, 3, None, "bye"])
def test_model_sys_exit_at_import_exits_2_not_the_models_code(tmp_path, capsys, code):
    path = tmp_path / "m.py"
    path.write_text(f"import sys\nsys.exit({code!r})\n")
    assert main(["check", str(path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"sys.exit({code!r})" in line and "m.py line 2" in line


@pytest.mark.parametrize("code", [0, 3])
def test_loglik_sys_exit_exits_2_not_the_models_code(tmp_path, capsys, code):
    path = tmp_path / "m.py"
    path.write_text(_model_with_loglik(f"import sys; sys.exit({code})"))
    assert main(["check", str(path)]) == 2
    assert f"sys.exit({code})" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_missing_model_file_exits_2(tmp_path, capsys, json_flag):
    assert main(["check", str(tmp_path / "nope.py"), *json_flag]) == 2
    captured = capsys.readouterr()
    assert "not found" in _one_error_line(captured.err)
    if json_flag:
        assert _strict_loads(captured.out)["exit_status"] == 2
    else:
        assert captured.out == ""


def test_json_error_is_json_on_stdout_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(_model_with_loglik('return -0.5 * (y - p["c"]) ** 2'))
    assert main(["check", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    report = _strict_loads(captured.out)
    assert report["exit_status"] == 2 and "KeyError: 'c'" in report["error"]
    assert "\n" not in report["error"] and "Traceback" not in captured.err


def test_json_usage_error_is_json_on_stdout(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "m.py", "--json", "--hessian", "h.npy", "--inverse", "hi.npy"])
    assert exc.value.code == 2
    report = _strict_loads(capsys.readouterr().out)
    assert report["exit_status"] == 2 and "not allowed with" in report["error"]


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory):
    """One real check whose result has NaNs (a negative definite 'Hessian' has no SEs),
    from a model that prints at import and inside loglik."""
    d = tmp_path_factory.mktemp("nan")
    model = d / "noisy.py"
    model.write_text(
        _model_with_loglik(
            'print("LOGLIK-PRINT")\n    return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 '
            '- p["log_sigma"]'
        ) + 'print("IMPORT-PRINT")\n'
    )
    y = np.random.default_rng(0).normal(1.0, 2.0, size=50)
    np.save(d / "at.npy", np.array([np.log(y.std()), y.mean()]))  # the MLE, ravel order
    np.save(d / "neg.npy", -np.eye(2))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check", str(model), "--at", str(d / "at.npy"), "--hessian", str(d / "neg.npy"),
                       "--json"])
    return status, out.getvalue(), err.getvalue()


def test_json_nan_result_is_strict_json_with_null(nan_run):
    status, out, _ = nan_run
    assert status == 1  # a verdict: the given matrix disagrees
    assert "NaN" not in out and "Infinity" not in out
    report = _strict_loads(out)
    assert report["valid"] is False and report["diagnostics"]["is_valid"] is True
    assert report["comparison"]["se_ratio"] == [None, None]  # negative variances: no SE ratio


def test_model_print_goes_to_stderr_not_stdout(nan_run):
    _, out, err = nan_run
    assert "IMPORT-PRINT" not in out and "LOGLIK-PRINT" not in out
    assert "IMPORT-PRINT" in err and "LOGLIK-PRINT" in err


def test_model_print_before_error_goes_to_stderr(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text('print("IMPORT-PRINT")\nraise KeyError("x")\n')
    assert main(["check", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert "IMPORT-PRINT" in captured.err and "IMPORT-PRINT" not in captured.out
    assert "KeyError" in _strict_loads(captured.out)["error"]


@pytest.fixture()
def no_demo(monkeypatch):
    import hessjax.demo

    def fail(*args, **kwargs):
        raise AssertionError("the demo ran before --plot was checked")

    monkeypatch.setattr(hessjax.demo, "run_demo", fail)


@pytest.mark.parametrize(
    "plot, message",
    [
        ("/nonexistent/dir", "/nonexistent does not exist"),
        ("{tmp}/missing/sub/cmp.png", "missing/sub does not exist"),
        ("{tmp}", "names a directory"),
        ("{tmp}/newdir/", "names a directory"),
        ("{tmp}/file.txt/cmp.png", "is not a directory"),
        ("{tmp}/cmp.notaformat", "cannot write .notaformat"),
    ],
)
def test_demo_plot_to_missing_directory_exits_2_before_running_demo(
    tmp_path, capsys, no_demo, plot, message
):
    (tmp_path / "file.txt").write_text("")
    assert main(["demo", "--plot", plot.format(tmp=tmp_path)]) == 2
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert line.startswith("hessjax demo: error: --plot") and message in line
    assert captured.out == "" and "fitting with SciPy" not in captured.err


def test_demo_negative_seed_is_a_usage_error(capsys, no_demo):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--seed", "-1"])
    assert exc.value.code == 2 and "non-negative" in capsys.readouterr().err


def test_real_entry_point_loglik_keyerror_exits_2_with_json(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('print("IMPORT-PRINT")\n' + _model_with_loglik('return -0.5 * (y - p["c"]) ** 2'))
    proc = subprocess.run(
        [sys.executable, "-m", "hessjax", "check", str(path), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    report = _strict_loads(proc.stdout)
    assert set(report) == {"error", "exit_status"} and report["exit_status"] == 2
    assert "KeyError: 'c'" in report["error"] and "KeyError: 'c'" in _one_error_line(proc.stderr)
    assert "IMPORT-PRINT" in proc.stderr
