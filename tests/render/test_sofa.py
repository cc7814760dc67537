"""SOFA files given as HRTFs (``--hrtf``): read within bounds, nothing outside the file, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import snc
from snc.render import spatial
from snc.render.spatial import Binaural, load_hrirs

h5py = pytest.importorskip("h5py")
RATE = 44100
SECRET = b"TOP-SECRET-" * 400


def write_sofa(path, *, ir=None, rate=44100.0, positions=None, pos_type="spherical", receivers=None, **datasets):
    """A minimal SimpleFreeFieldHRIR file; ``datasets`` replace a dataset by a callable ``(f, name)``."""
    rng = np.random.default_rng(0)
    if ir is None:
        ir = rng.standard_normal((4, 2, 32)) * 0.1
    if positions is None:
        positions = np.array([[0.0, 0, 1.2], [90, 0, 1.2], [180, 0, 1.2], [-90, 0, 1.2]])
    with h5py.File(path, "w") as f:
        makers = {
            "Data.IR": lambda f, n: f.create_dataset(n, data=ir),
            "Data.SamplingRate": lambda f, n: f.create_dataset(n, data=np.array([rate])),
            "SourcePosition": lambda f, n: f.create_dataset(n, data=positions),
        }
        makers.update(datasets)
        for name, make in makers.items():
            make(f, name)
        if "SourcePosition" in f and isinstance(f.get("SourcePosition", getlink=True), h5py.HardLink):
            f["SourcePosition"].attrs["Type"] = pos_type
        if receivers is not None:
            f.create_dataset("ReceiverPosition", data=receivers)
    load_hrirs.cache_clear()
    spatial.hrirs_at.cache_clear()
    return str(path)


def test_a_valid_sofa_file_is_read_with_its_directions_and_ear_order(tmp_path):
    ir = np.random.default_rng(1).standard_normal((4, 2, 32))
    path = write_sofa(tmp_path / "ok.sofa", ir=ir)
    vecs, got, rate = load_hrirs(path)
    assert rate == 44100.0 and np.array_equal(got, ir)
    assert Binaural(RATE, path).nearest(85, 0) == 1
    # cartesian positions: (0, 1, 0) is to the left (azimuth +90)
    cart = np.array([[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]])
    path = write_sofa(tmp_path / "cart.sofa", ir=ir, positions=cart, pos_type="cartesian")
    assert Binaural(RATE, path).nearest(80, 0) == 1 and Binaural(RATE, path).nearest(-100, 0) == 3
    # the ears listed right first (ReceiverPosition y of the first ear negative): swapped to left, right
    path = write_sofa(tmp_path / "rl.sofa", ir=ir, receivers=np.array([[0, -0.09, 0], [0, 0.09, 0]]))
    assert np.array_equal(load_hrirs(path)[1], ir[:, ::-1])
    path = write_sofa(tmp_path / "lr.sofa", ir=ir, receivers=np.array([[0, 0.09, 0], [0, -0.09, 0]]))
    assert np.array_equal(load_hrirs(path)[1], ir)
    # one position for every measurement is legal (broadcast)
    path = write_sofa(tmp_path / "one.sofa", ir=ir, positions=np.array([[30.0, 0, 1]]))
    assert load_hrirs(path)[0].shape == (4, 3)


@pytest.mark.parametrize("case, message", [
    (dict(rate=1.5), "SamplingRate 1.5 Hz is outside"),
    (dict(rate=1e12), "SamplingRate 1e\\+12 Hz is outside"),
    (dict(rate=float("nan")), "NaN"),
    (dict(ir=np.zeros((4, 2, 0))), "0 taps"),
    (dict(ir=np.zeros((4, 3, 16))), "2 ears"),
    (dict(ir=np.zeros((0, 2, 16)), positions=np.zeros((0, 3))), "0 measurements"),
    (dict(positions=np.zeros((4, 1))), "SourcePosition must be"),
    (dict(positions=np.zeros((5, 3))), "SourcePosition must be"),
    (dict(positions=np.zeros((4, 3)), pos_type="cartesian"), "at the listener"),
    (dict(pos_type="polar"), "Type must be spherical or cartesian"),
    (dict(positions=np.full((4, 3), np.inf)), "NaN or infinite"),
    (dict(ir=np.full((4, 2, 8), np.nan)), "NaN or infinite"),
    (dict(ir=np.zeros((4, 2, 8), dtype="S4")), "must hold numbers"),
    (dict(receivers=np.zeros((3, 3))), "ReceiverPosition must be"),
])
def test_bad_sofa_files_are_refused_in_one_line(tmp_path, case, message):
    path = write_sofa(tmp_path / "bad.sofa", **case)
    with pytest.raises(snc.InputError, match=message) as err:
        Binaural(RATE, path)
    assert str(err.value).startswith(f"--hrtf {path}: ") and "\n" not in str(err.value)


def test_declared_sizes_are_bounded_before_reading(tmp_path, monkeypatch):
    """A tiny file declaring a huge, compressed (never written) dataset is refused from its header."""
    reads = []
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, key: reads.append(self.name) or np.zeros(1))
    for shape, message in (((4, 2, 10 ** 6), "taps"), ((60_000, 2, 8192), "MiB"), ((10 ** 6, 2, 8), "measurements")):
        path = write_sofa(tmp_path / "bomb.sofa", positions=np.zeros((1, 3)) + 1,
                          **{"Data.IR": lambda f, n, s=shape: f.create_dataset(n, shape=s, dtype="f8",
                                                                               chunks=(1, 2, min(s[2], 8192)),
                                                                               compression="gzip")})
        assert (tmp_path / "bomb.sofa").stat().st_size < 100_000
        with pytest.raises(snc.InputError, match=message):
            load_hrirs(path)
    assert not any(r.endswith("Data.IR") for r in reads)


def _secret(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(SECRET)
    with h5py.File(tmp_path / "secret.h5", "w") as f:
        f.create_dataset("x", data=np.frombuffer(SECRET[: 4 * 2 * 32 * 8], dtype="<f8").reshape(4, 2, 32))
    return secret


@pytest.mark.parametrize("kind, message", [
    ("external_link", "link to another file"),
    ("external_storage", "other files"),
    ("virtual", "other files"),
    ("soft_link", "link to elsewhere"),
])
def test_sofa_files_that_point_outside_themselves_are_refused(tmp_path, kind, message):
    secret = _secret(tmp_path)
    makers = {
        "external_link": lambda f, n: f.__setitem__(n, h5py.ExternalLink(str(tmp_path / "secret.h5"), "/x")),
        "external_storage": lambda f, n: f.create_dataset(n, shape=(4, 2, 32), dtype="<f8",
                                                          external=[(str(secret), 0, h5py.h5f.UNLIMITED)]),
        "soft_link": lambda f, n: (f.create_dataset("elsewhere", data=np.zeros((4, 2, 32))),
                                   f.__setitem__(n, h5py.SoftLink("/elsewhere"))),
    }

    def virtual(f, n):
        layout = h5py.VirtualLayout(shape=(4, 2, 32), dtype="f8")
        layout[:] = h5py.VirtualSource(str(tmp_path / "secret.h5"), "x", shape=(4, 2, 32))
        f.create_virtual_dataset(n, layout)

    makers["virtual"] = virtual
    path = write_sofa(tmp_path / "evil.sofa", **{"Data.IR": makers[kind]})
    assert (tmp_path / "evil.sofa").stat().st_size < 20_000  # a few kB: no copy of the secret inside
    with pytest.raises(snc.InputError, match=message):
        load_hrirs(path)


@pytest.mark.parametrize("kind", ["external_storage", "external_link"])
def test_cli_decode_with_a_pointing_sofa_file_writes_nothing(tmp_path, capsys, kind):
    """Before: exit 0 and the audio convolved with the secret file's bytes."""
    from snc.cli import decode

    secret = _secret(tmp_path)
    if kind == "external_storage":
        def ir(f, n):
            return f.create_dataset(n, shape=(4, 2, 32), dtype="<f8", external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    else:
        def ir(f, n):
            return f.__setitem__(n, h5py.ExternalLink(str(tmp_path / "secret.h5"), "/x"))
    evil = write_sofa(tmp_path / "evil.sofa", **{"Data.IR": ir})
    rng = np.random.default_rng(2)
    mix = (rng.standard_normal((4000, 2)) * 2000).astype(np.int16)
    snc.encode(mix, tmp_path / "s.snc", samplerate=RATE, bits=16, preset="archival")
    out = tmp_path / "out.wav"
    assert decode.main([str(tmp_path / "s.snc"), "-o", str(out), "--layout", "binaural", "--hrtf", evil]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evil.sofa" in err and "Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".out*"))


def test_binaural_refuses_rates_where_hrirs_mean_nothing_and_resamples_odd_ones_quickly():
    with pytest.raises(snc.InputError, match="binaural rendering needs a sample rate"):
        Binaural(1)
    b = Binaural(44101)  # coprime with 44100: a rational approximation keeps the filter short
    assert abs(b.ir.shape[-1] - 256) <= 1
