"""snc-serve's command line: a folder, 127.0.0.1 by default, one-line errors."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
import uvicorn  # noqa: E402

from snc.cli import serve  # noqa: E402


def test_serves_on_localhost_by_default(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    assert serve.main([str(tmp_path)]) == 0
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8000 and calls[0]["limit_concurrency"] == 64
    assert "http://127.0.0.1:8000/" in capsys.readouterr().err


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert serve.main([str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder" in err
