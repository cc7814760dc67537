"""The demucs separator end to end, with tiny randomly initialised models.

No pretrained weights and no network: a ~20k-parameter HTDemucs exercises the real
demucs code paths (loading, ``apply_model``, bags), and a linear stand-in model
(``GainModel``) gives exact expectations for the separator's own arithmetic
(normalisation, channel groups, stem mapping, resampling).
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the demucs separator needs torch (pip install 'snc[demucs]')")
pytest.importorskip("demucs", reason="the demucs separator needs demucs (pip install 'snc[demucs]')")

import demucs  # noqa: E402
import demucs.pretrained  # noqa: E402
from demucs.apply import apply_model  # noqa: E402
from demucs.htdemucs import HTDemucs  # noqa: E402

from snc.errors import InputError, NotAvailableError  # noqa: E402
from snc.separate.demucs import DemucsSeparator, demucs_available  # noqa: E402

FOUR_SOURCES = ["drums", "bass", "other", "vocals"]
FIVE_SOURCES = ["drums", "bass", "guitar", "piano", "vocals"]
RATE = 44100


def tiny_htdemucs(sources=FOUR_SOURCES, seed: int = 0) -> HTDemucs:
    """About the smallest HTDemucs that runs: 8 channels, depth 2, one transformer layer,
    nfft 512, 0.5 s segments (a forward pass takes ~50 ms)."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # demucs initialises some zero-size layers
        return HTDemucs(sources=list(sources), channels=8, depth=2, nfft=512, t_layers=1, t_heads=1,
                        t_hidden_scale=1.0, dconv_depth=1, segment=Fraction(1, 2))


class GainModel(torch.nn.Module):
    """A linear stand-in for a demucs model: source k = gains[k] * mix."""

    samplerate = RATE
    audio_channels = 2
    segment = Fraction(1, 2)

    def __init__(self, sources, gains):
        super().__init__()
        self.sources = list(sources)
        self.register_buffer("gains", torch.tensor(gains, dtype=torch.float32))

    def forward(self, mix):
        return self.gains[None, :, None, None] * mix[:, None]


def noise(frames: int, channels: int, seed: int = 0, offset: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(offset, 0.1, (frames, channels))


def normalised_by_reference(x: np.ndarray, gain: float) -> np.ndarray:
    """What GainModel's source gives back after demucs's normalisation is undone:
    gain * (x - m) + m, m the mean of the mono reference."""
    m = x.mean(axis=1).mean()
    return gain * (x - m) + m


def save_package(model, path: Path) -> Path:
    """The format demucs.states.load_model reads (serialize_model without training args)."""
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": type(model), "args": args, "kwargs": kwargs, "state": model.state_dict()}, path)
    return path


def save_safetensors(model, path: Path) -> Path:
    """The format demucs.hf.load_safetensors_model reads: tensors + klass/args/kwargs as json metadata."""
    safetensors_torch = pytest.importorskip("safetensors.torch")

    def encode(value):
        if isinstance(value, Fraction):
            return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
        if isinstance(value, (list, tuple)):
            return [encode(item) for item in value]
        if isinstance(value, dict):
            return {key: encode(item) for key, item in value.items()}
        return value

    args, kwargs = model._init_args_kwargs
    metadata = {"klass": f"{type(model).__module__}.{type(model).__name__}",
                "args": json.dumps(encode(args)), "kwargs": json.dumps(encode(kwargs))}
    tensors = {key: value.contiguous() for key, value in model.state_dict().items()}
    safetensors_torch.save_file(tensors, str(path), metadata=metadata)
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models are dominated by thread synchronisation: with two threads on a loaded
    two-core machine they run ten times slower than with one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_separator():
    return DemucsSeparator(model_object=tiny_htdemucs())


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point every weight cache at an empty folder."""
    home = tmp_path / "caches"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


# ----------------------------------------------------------------------------- end to end


def test_import_does_not_need_torch():
    code = "import sys, snc, snc.separate.demucs; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert demucs_available()


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_shapes_for_mono_stereo_and_three_channels(tiny_separator, channels):
    block = noise(int(0.6 * RATE), channels)
    stems = tiny_separator.separate(block, RATE)
    assert tuple(stems) == ("vocals", "drums", "bass", "other") == tiny_separator.stem_names
    for stem in stems.values():
        assert stem.shape == block.shape and stem.dtype == np.float64
        assert np.isfinite(stem).all()


def test_other_rate_is_resampled_and_comes_back_at_the_same_length(tiny_separator):
    block = noise(16007, 2)
    stems = tiny_separator.separate(block, 32000)
    assert all(stem.shape == block.shape and np.isfinite(stem).all() for stem in stems.values())

    # with unit gain the round trip 32000 -> 44100 -> 32000 must give back a band-limited input
    identity = DemucsSeparator(model_object=GainModel(FOUR_SOURCES, [0, 0, 0, 1]))
    t = np.arange(16007) / 32000
    tone = 0.5 * np.stack([np.sin(2 * np.pi * 440 * t), np.cos(2 * np.pi * 1000 * t)], axis=1)
    vocals = identity.separate(tone, 32000)["vocals"]
    interior = slice(1000, -1000)  # resample_poly zero-pads beyond the ends
    # resample_poly's default Kaiser filter ripples by ~0.1 % each way; one sample late would be ~0.1
    assert np.max(np.abs(vocals[interior] - tone[interior])) < 5e-3


def test_sources_map_to_stems_and_match_demucs_own_pipeline():
    model = tiny_htdemucs(FIVE_SOURCES)
    separator = DemucsSeparator(model_object=model)
    assert separator.stem_names == ("vocals", "drums", "bass", "other")
    block = noise(int(0.6 * RATE), 2, offset=0.02)
    stems = separator.separate(block, RATE)

    # demucs/api.py separate_tensor: normalise by the mono reference, apply_model, undo
    reference = block.mean(axis=1)
    mean, std = reference.mean(), reference.std(ddof=1) + 1e-8
    mix = torch.from_numpy(((block - mean) / std).T[None].astype(np.float32))
    with torch.inference_mode():
        raw = apply_model(model, mix, shifts=0, split=True, overlap=0.25)[0].double().numpy() * std + mean
    source = {name: raw[k].T for k, name in enumerate(FIVE_SOURCES)}
    for name in ("vocals", "drums", "bass"):
        np.testing.assert_allclose(stems[name], source[name], atol=1e-5)
    np.testing.assert_allclose(stems["other"], source["guitar"] + source["piano"], atol=1e-5)


def test_stem_mapping_and_channel_groups_are_exact():
    gains = [1.0, 2.0, 3.0, 4.0, 5.0]  # drums, bass, guitar, piano, vocals
    separator = DemucsSeparator(model_object=GainModel(FIVE_SOURCES, gains))
    block = noise(9000, 3, offset=0.05)
    block[:, 2] += 0.2  # the odd channel has its own offset, so its own normalisation shows
    stems = separator.separate(block, RATE)
    # channels (0, 1) go through the model as a stereo pair, channel 2 as duplicated mono
    pair, single = block[:, :2], block[:, 2:]
    for name, gain in (("drums", 1), ("bass", 2), ("vocals", 5)):
        np.testing.assert_allclose(stems[name][:, :2], normalised_by_reference(pair, gain), atol=1e-5)
        np.testing.assert_allclose(stems[name][:, 2:], normalised_by_reference(single, gain), atol=1e-5)
    # guitar + piano, each un-normalised (demucs adds the mean back to every source)
    expected_other = normalised_by_reference(pair, 3) + normalised_by_reference(pair, 4)
    np.testing.assert_allclose(stems["other"][:, :2], expected_other, atol=1e-5)


def test_missing_stems_are_omitted_and_other_stays_last():
    separator = DemucsSeparator(model_object=GainModel(["drums", "bass", "piano"], [1, 1, 1]))
    assert separator.stem_names == ("drums", "bass", "other")
    no_other = DemucsSeparator(model_object=GainModel(["vocals", "drums"], [1, 1]))
    assert no_other.stem_names == ("vocals", "drums", "other")
    stems = no_other.separate(noise(4000, 2), RATE)
    assert not stems["other"].any()  # nothing maps there; the driver puts the residual in it


def test_provenance_names_the_weights():
    first = DemucsSeparator(model_object=tiny_htdemucs(seed=0)).provenance()
    again = DemucsSeparator(model_object=tiny_htdemucs(seed=0)).provenance()
    other = DemucsSeparator(model_object=tiny_htdemucs(seed=1)).provenance()
    assert set(first) == {"separator", "separator_version", "model", "weights_sha256", "sources"}
    assert first["separator"] == "demucs" and first["separator_version"] == f"demucs {demucs.__version__}"
    assert all(isinstance(v, str) for v in first.values())  # spec 9.5: all strings
    assert first["sources"] == ",".join(FOUR_SOURCES)
    assert len(first["weights_sha256"]) == 64 and int(first["weights_sha256"], 16) >= 0
    assert first["weights_sha256"] == again["weights_sha256"] != other["weights_sha256"]
    json.dumps(first)  # stored as provenance_detail


def test_options_threads_progress_and_reproducible_shifts():
    events = []
    separator = DemucsSeparator(model_object=GainModel(FOUR_SOURCES, [1, 2, 3, 4]), threads=2,
                                progress=events.append, shifts=2)
    threads_before = torch.get_num_threads()
    random.seed(1234)
    random_state = random.getstate()
    block = noise(int(1.2 * RATE), 2)
    first = separator.separate(block, RATE)
    assert torch.get_num_threads() == threads_before
    assert random.getstate() == random_state
    second = separator.separate(block, RATE)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert events and all(e["stage"] == "demucs" and e["frames_total"] == len(block) for e in events)
    done = [e["frames_done"] for e in events[: len(events) // 2]]
    assert done == sorted(done) and done[-1] == len(block)


def test_bad_blocks_and_options_are_input_errors(tiny_separator):
    with pytest.raises(InputError):
        tiny_separator.separate(np.zeros(100), RATE)
    with pytest.raises(InputError):
        tiny_separator.separate(np.full((100, 2), np.nan), RATE)
    with pytest.raises(InputError):
        tiny_separator.separate(np.zeros((100, 2)), 0)
    assert {k: v.shape for k, v in tiny_separator.separate(np.zeros((0, 2)), RATE).items()} == {
        name: (0, 2) for name in tiny_separator.stem_names}
    for options in ({"overlap": 1.0}, {"shifts": -1}, {"threads": 0}):
        with pytest.raises(InputError):
            DemucsSeparator(model_object=GainModel(FOUR_SOURCES, [1, 1, 1, 1]), **options)
    with pytest.raises(InputError):
        DemucsSeparator(model_object=object())


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize("save,file_name", [(save_package, "tiny.th"), (save_safetensors, "tiny.safetensors")])
def test_checkpoint_file_gives_the_same_stems_as_the_model_in_memory(tmp_path, tiny_separator, save, file_name):
    path = save(tiny_htdemucs(), tmp_path / file_name)
    loaded = DemucsSeparator(model=path)
    block = noise(int(0.6 * RATE), 2, seed=3)
    expected, got = tiny_separator.separate(block, RATE), loaded.separate(block, RATE)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-6)
    assert loaded.provenance()["weights_sha256"] == sha256_file(path)
    assert loaded.provenance()["model"] == file_name
    assert DemucsSeparator(model=str(path)).provenance() == loaded.provenance()


def test_local_repo_directory_with_a_bag(tmp_path):
    first = save_package(tiny_htdemucs(seed=1), tmp_path / "aaaa1111.th")
    second = save_package(tiny_htdemucs(seed=2), tmp_path / "bbbb2222.th")
    (tmp_path / "tinybag.yaml").write_text(
        "models: ['aaaa1111', 'bbbb2222']\nweights: [[1., 1., 0., 0.], [0., 0., 1., 1.]]\n")
    separator = DemucsSeparator(model=tmp_path)
    provenance = separator.provenance()
    assert provenance["model"] == "tinybag"
    expected_sha = hashlib.sha256("".join(sorted(map(sha256_file, (first, second)))).encode()).hexdigest()
    assert provenance["weights_sha256"] == expected_sha
    block = noise(int(0.6 * RATE), 1)
    stems = separator.separate(block, RATE)
    assert all(s.shape == block.shape and np.isfinite(s).all() for s in stems.values())
    # the .yaml names the bag when a folder holds several
    (tmp_path / "other.yaml").write_text("models: ['aaaa1111']\n")
    with pytest.raises(InputError, match="several"):
        DemucsSeparator(model=tmp_path)
    assert DemucsSeparator(model=tmp_path / "other.yaml").provenance()["weights_sha256"] == sha256_file(first)


def test_named_model_from_the_torch_hub_cache(tmp_path, empty_caches, monkeypatch):
    """A name resolves through demucs/remote (files.txt + <name>.yaml) to the torch hub
    checkpoint file, whose name carries its sha256 prefix."""
    package = save_package(tiny_htdemucs(), tmp_path / "package.th")
    digest = sha256_file(package)
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "files.txt").write_text(f"root: tiny/\ncafe0123-{digest[:8]}.th\n")
    (remote / "tiny.yaml").write_text("models: ['cafe0123']\n")
    monkeypatch.setattr(demucs.pretrained, "REMOTE_ROOT", remote)
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    checkpoints.mkdir(parents=True)
    cached = checkpoints / f"cafe0123-{digest[:8]}.th"
    cached.write_bytes(package.read_bytes())

    provenance = DemucsSeparator("tiny").provenance()
    assert provenance["model"] == "tiny" and provenance["weights_sha256"] == digest

    cached.write_bytes(package.read_bytes()[:-10])  # a truncated download
    with pytest.raises(NotAvailableError, match="corrupted"):
        DemucsSeparator("tiny")


def test_named_model_from_the_huggingface_cache(tmp_path, empty_caches):
    """The layout huggingface_hub leaves after demucs/hf.py downloaded adefossez/HTDemucs."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = Path(empty_caches / "hf" / "hub" / "models--adefossez--HTDemucs")
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (snapshot / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    weights = save_safetensors(tiny_htdemucs(), snapshot / "955717e8.safetensors")

    separator = DemucsSeparator()  # the default model, htdemucs
    assert separator.provenance()["model"] == "htdemucs"
    assert separator.provenance()["weights_sha256"] == sha256_file(weights)


def test_missing_weights_say_how_to_get_them(empty_caches):
    started = time.monotonic()
    with pytest.raises(NotAvailableError) as error:
        DemucsSeparator()
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert "--model" in message and "--separator dsp" in message and "python -m demucs" in message
    assert "https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th" in message
    assert str(Path(torch.hub.get_dir()) / "checkpoints") in message
    assert "\n" not in message


def test_bad_model_arguments_are_input_errors(tmp_path, empty_caches):
    missing = tmp_path / "nowhere" / "model.th"
    with pytest.raises(InputError, match="nowhere"):
        DemucsSeparator(model=missing)
    for suffix in (".th", ".safetensors", ".bin"):
        garbage = tmp_path / f"garbage{suffix}"
        garbage.write_bytes(b"not a model at all")
        with pytest.raises(InputError, match="garbage"):
            DemucsSeparator(model=garbage)
    state_only = tmp_path / "state.th"
    torch.save(tiny_htdemucs().state_dict(), state_only)  # weights without the class: not a package
    with pytest.raises(InputError, match="state.th"):
        DemucsSeparator(model=state_only)
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    with pytest.raises(InputError, match="no demucs model"):
        DemucsSeparator(model=empty_folder)
    with pytest.raises(InputError, match="unknown demucs model"):
        DemucsSeparator("no_such_model")
    with pytest.raises(InputError):
        DemucsSeparator("htdemucs", model_object=tiny_htdemucs())


# ----------------------------------------------------------------------------- through the encoder


def test_encode_with_a_demucs_model_keeps_the_mix_exact_and_stores_provenance(tmp_path):
    """The real path end to end: snc.encode -> chunked driver -> demucs -> stems -> lossless residual."""
    import io

    import snc

    rng = np.random.default_rng(3)
    mix = (rng.standard_normal((3 * 44100, 2)) * 3000).astype(np.int16)
    separator = DemucsSeparator(model_object=tiny_htdemucs())
    separator.chunk_seconds, separator.context_seconds = 1.0, 0.5  # several chunks
    events = []
    buf = io.BytesIO()
    report = snc.encode(mix, buf, samplerate=44100, bits=16, preset="lossless", separator=separator,
                        progress=events.append)
    assert report.separator == "demucs"
    assert [s["name"] for s in report.streams] == ["vocals", "drums", "bass", "other", "residual"]
    separate_events = [e for e in events if e["stage"] == "separate"]
    assert len(separate_events) > 3 and separate_events[-1]["frames_done"] == len(mix)
    buf.seek(0)
    with snc.open(buf) as f:
        assert np.array_equal(f.read(dtype="native"), mix)  # separation never changes correctness
        detail = {s["name"]: s for s in f.describe()["streams"]}["vocals"]["provenance_detail"]
    assert detail == separator.provenance() and len(detail["weights_sha256"]) == 64
