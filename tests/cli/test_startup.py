"""Start-up cost: what ``import snc`` and ``snc-info`` load (module sets, not timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import snc

REPO = Path(snc.__file__).resolve().parents[1]
VECTORS = REPO / "spec" / "vectors" / "valid"
#: the modules a cheap start must not load: numba (and with it the codec kernels), scipy, torch
HEAVY = ("numba", "scipy", "scipy.fft", "scipy.signal", "torch",
         "snc.kernels.bitio", "snc.codecs.lossless", "snc.codecs.perceptual")


def _loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter on this checkout; the HEAVY modules it left in sys.modules."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_snc_loads_no_numba_scipy_or_torch():
    assert _loaded_after("import snc") == []


def test_errors_and_version_need_no_heavy_import():
    assert _loaded_after("import snc\nsnc.SncError, snc.InputError, snc.__version__, dir(snc)") == []


@pytest.mark.parametrize("vector", sorted(p.name for p in VECTORS.glob("*.snc")))
def test_snc_info_reads_the_container_only(vector):
    """snc-info (and snc.info) never import a codec's kernels or scipy: they only read the container."""
    code = (f"from snc.cli.info import main\nassert main([{str(VECTORS / vector)!r}, '--json']) == 0\n"
            f"import snc\nsnc.info({str(VECTORS / vector)!r})")
    assert _loaded_after(code) == []


def test_cli_modules_import_without_heavy_modules():
    assert _loaded_after("import snc.cli.info, snc.cli.decode, snc.cli.encode") == []


def test_public_api_resolves_lazily():
    from snc.encode import EncodeReport, encode
    from snc.render.file import SncFile
    from snc.render.file import open as open_

    assert (snc.open, snc.SncFile, snc.encode, snc.EncodeReport) == (open_, SncFile, encode, EncodeReport)
    assert set(snc.__all__) <= set(dir(snc))
    assert all(getattr(snc, name) is not None for name in snc.__all__)
    namespace: dict = {}
    exec("from snc import *", namespace)  # every name of __all__ resolves
    assert set(snc.__all__) <= set(namespace)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        snc.nope  # noqa: B018
    assert not hasattr(snc, "decoderx")


def test_codecs_are_known_before_their_module_is_imported():
    code = ("from snc.codecs import available_codecs\n"
            "assert available_codecs() == ['float', 'gain', 'lossless', 'pcm', 'perceptual'], available_codecs()")
    assert _loaded_after(code) == []


def test_get_codec_imports_only_that_codec():
    code = "from snc.codecs import get_codec\nget_codec('pcm', {'format': 'int', 'bits': 16, 'channels': 2})"
    assert _loaded_after(code) == []
    code = "from snc.codecs import get_codec\nget_codec('lossless', {'format': 'int', 'bits': 16, 'channels': 2})"
    # numba itself imports the bare scipy package when it is installed; scipy.fft/signal stay out
    assert set(_loaded_after(code)) - {"scipy"} == {"numba", "snc.kernels.bitio", "snc.codecs.lossless"}


def test_unknown_codec_names_the_lazy_ones():
    from snc.codecs import get_codec
    from snc.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="knows: float, gain, lossless, pcm, perceptual"):
        get_codec("nope", {})


def test_lazy_module_that_does_not_register_is_a_clear_error():
    # in a fresh interpreter: the registry has no public way to forget a codec again
    code = ("from snc.codecs import codec_class, register_lazy\n"
            "register_lazy('ghost-codec', 'snc.errors')\n"
            "try:\n"
            "    codec_class('ghost-codec')\n"
            "except RuntimeError as exc:\n"
            "    assert str(exc) == \"module snc.errors did not register codec 'ghost-codec'\", exc\n"
            "else:\n"
            "    raise AssertionError('no error')")
    assert _loaded_after(code) == []
