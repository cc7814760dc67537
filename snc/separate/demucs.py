"""The ``demucs`` separator: a learned model (Hybrid Transformer Demucs by default).

Demucs separates far better than the DSP separator, so the stems are cheaper to code;
it needs the optional packages ``demucs`` and ``torch`` (``pip install 'snc[demucs]'``)
and model weights.  Nothing is ever downloaded at run time: the weights come from a path
given by the user (``--model PATH``) or from the caches that demucs itself fills (the
torch hub checkpoints folder and the HuggingFace cache).  Missing weights are a
:class:`~snc.errors.NotAvailableError` that says how to get them, raised at once.

torch and demucs are imported only when a :class:`DemucsSeparator` is built, so
``import snc.separate.demucs`` stays cheap and works without them.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import warnings
from pathlib import Path

import numpy as np

from snc.errors import InputError, NotAvailableError, SncError
from snc.separate.base import ProgressCallback, Separator
from snc.separate.demucs_weights import (
    DEFAULT_MODEL,
    describe_model_object,
    hf_cache_dir,
    load_from_name,
    load_from_path,
    looks_like_path,
    short_error,
)

__all__ = ["DEFAULT_MODEL", "DemucsSeparator", "demucs_available"]

#: model sources that keep their name; every other source is summed into ``other``
_NAMED_STEMS = ("vocals", "drums", "bass")
_OTHER = "other"

#: seed of Python's ``random`` while demucs draws its time shifts, so equal input gives equal stems
_SHIFT_SEED = 0

#: added to the std in the normalisation, as demucs/api.py ``Separator.separate_tensor``
_STD_EPSILON = 1e-8

_INSTALL_HINT = "pip install 'snc[demucs]' (demucs and CPU torch), or use --separator dsp"


def demucs_available() -> bool:
    """Whether ``demucs`` and ``torch`` import, i.e. whether :class:`DemucsSeparator` can be built
    (weights aside).  Imports them, so call it only when the answer is needed."""
    try:
        _import_demucs()
    except NotAvailableError:
        return False
    return True


def installed() -> bool:
    """Whether ``demucs`` and ``torch`` are installed, without importing them (torch takes seconds)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "demucs"))


def weights_may_be_cached() -> bool:
    """Whether a cache could hold demucs weights, without importing torch: a ``.th`` file in the
    torch hub checkpoints folder (``torch.hub.get_dir``'s rule: ``$TORCH_HOME/hub``, else
    ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``) or a demucs repository of
    :data:`demucs.hf.DEFAULT_NAMESPACE` in the HuggingFace cache.  ``auto`` asks this first, so a
    machine without weights does not pay torch's import for nothing; a True answer is then checked
    for real by loading."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    hub = Path(os.environ["TORCH_HOME"]).expanduser() if "TORCH_HOME" in os.environ else cache / "torch"
    if any((hub / "hub" / "checkpoints").glob("*.th")):
        return True
    return any(Path(hf_cache_dir()).glob("models--adefossez--*emucs*"))


def _import_demucs():
    """torch and the demucs modules used here, or :class:`NotAvailableError`."""
    try:
        import demucs
        import demucs.apply
        import demucs.hf
        import demucs.pretrained
        import demucs.repo
        import demucs.states
        import torch
    except Exception as exc:  # ImportError, or OSError from a broken torch install
        raise NotAvailableError(
            f"the demucs separator needs the packages demucs and torch ({short_error(exc)}): {_INSTALL_HINT}"
        ) from None
    return torch, demucs


class DemucsSeparator(Separator):
    """Separate with a demucs model, on the CPU, in float32.

    ``model`` is a path (a demucs ``.th`` package, a ``.safetensors`` file, a bag
    ``.yaml`` or a directory holding them) or a model name such as ``"htdemucs"`` looked
    up in the local caches only; ``None`` means :data:`DEFAULT_MODEL`.  ``model_object``
    takes an already-built demucs model instead (tests, embedding applications).
    ``threads`` caps torch's CPU threads during :meth:`separate` (restored afterwards);
    ``shifts`` and ``overlap`` are demucs's options of the same names (``apply_model``).
    ``progress`` receives ``{"stage": "demucs", "frames_done", "frames_total"}`` for the
    block being separated after each model segment.

    Loading happens here, so a missing or broken model fails before any work is done.
    """

    name = "demucs"
    #: demucs segments are ~8 s; 30 s blocks keep memory low and the per-call overhead small
    chunk_seconds = 30.0
    #: the model's receptive field is a segment; 2 s either side hides the block edges
    context_seconds = 2.0

    def __init__(self, model: str | os.PathLike | None = None, *, model_object=None,
                 threads: int | None = None, progress: ProgressCallback | None = None,
                 shifts: int = 0, overlap: float = 0.25):
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InputError(f"demucs threads must be a positive integer, not {threads!r}")
        if not isinstance(shifts, int) or shifts < 0:
            raise InputError(f"demucs shifts must be a non-negative integer, not {shifts!r}")
        if not isinstance(overlap, (int, float)) or not 0.0 <= overlap < 1.0:
            raise InputError(f"demucs overlap must be in [0, 1), not {overlap!r}")
        if model is not None and model_object is not None:
            raise InputError("give either a demucs model path/name or a model object, not both")

        self._torch, self._demucs = _import_demucs()
        self.threads = threads
        self.progress = progress
        self.shifts = shifts
        self.overlap = float(overlap)

        if model_object is not None:
            loaded = describe_model_object(model_object)
        elif model is not None and looks_like_path(model):
            loaded = load_from_path(Path(model).expanduser())
        else:
            loaded = load_from_name(DEFAULT_MODEL if model is None else str(model))

        self._model = loaded.model.to("cpu", self._torch.float32).eval()
        self._label = loaded.label
        self._weights_sha256 = loaded.weights_sha256
        sources = list(self._model.sources)
        # "other" is always last, even for a model without other sources: the driver puts
        # what the named stems miss into the last stem, which must not be e.g. the bass.
        self.stem_names = tuple(name for name in _NAMED_STEMS if name in sources) + (_OTHER,)

    @property
    def model_samplerate(self) -> int:
        """The rate the model runs at; other rates are resampled to it and back."""
        return int(self._model.samplerate)

    def provenance(self) -> dict:
        return {
            "separator": self.name,
            "separator_version": f"demucs {self._demucs.__version__}",
            "model": self._label,
            "weights_sha256": self._weights_sha256,
            "sources": ",".join(self._model.sources),
        }

    def separate(self, block: np.ndarray, samplerate: int) -> dict[str, np.ndarray]:
        """Resample to the model's rate, feed channels in the model's groups, normalise,
        run demucs segment by segment, undo it all: float64 stems shaped like ``block``."""
        mix = np.asarray(block, dtype=np.float64)
        if mix.ndim != 2 or mix.shape[1] < 1:
            raise InputError(f"demucs separator expects a (frames, channels) block, got shape {mix.shape}")
        if not (isinstance(samplerate, (int, float, np.number)) and np.isfinite(samplerate)
                and samplerate > 0 and samplerate == int(samplerate)):
            raise InputError(f"invalid sample rate {samplerate!r}")
        samplerate = int(samplerate)
        if not np.isfinite(mix).all():
            raise InputError("the block to separate contains NaN or infinite samples")
        frames, channels = mix.shape
        if frames == 0:
            return {name: np.zeros_like(mix) for name in self.stem_names}

        at_model_rate = _resample(mix, samplerate, self.model_samplerate)
        model_channels = int(self._model.audio_channels)
        groups = _channel_groups(channels, model_channels)
        # one batch item per channel group: (groups, model channels, time)
        batch = np.stack([at_model_rate[:, _fill_channels(group, model_channels)].T for group in groups])

        # Normalisation as demucs/api.py Separator.separate_tensor (formerly demucs/separate.py):
        # zero mean, unit std of the mono reference, undone on every source afterwards.
        reference = batch.mean(axis=1)
        mean = reference.mean(axis=-1)
        std = reference.std(axis=-1, ddof=1) if reference.shape[-1] > 1 else np.zeros(len(groups))
        std = std + _STD_EPSILON
        normalised = (batch - mean[:, None, None]) / std[:, None, None]
        estimates = self._apply_model(normalised.astype(np.float32), frames)
        # (groups, sources, model channels, time)
        estimates = estimates * std[:, None, None, None] + mean[:, None, None, None]

        per_source = np.zeros((len(self._model.sources), at_model_rate.shape[0], channels))
        for group_index, group in enumerate(groups):
            filled = _fill_channels(group, model_channels)
            for channel in group:
                # a channel fed to several model inputs (mono duplicated) gets their average
                positions = [p for p, c in enumerate(filled) if c == channel]
                per_source[:, :, channel] = estimates[group_index][:, positions, :].mean(axis=1)

        stems = np.zeros((len(self.stem_names), at_model_rate.shape[0], channels))
        for source_index, source in enumerate(self._model.sources):
            target = source if source in self.stem_names else _OTHER
            stems[self.stem_names.index(target)] += per_source[source_index]
        stems = _resample(stems, self.model_samplerate, samplerate, axis=1, length=frames)
        return {name: np.ascontiguousarray(stems[k]) for k, name in enumerate(self.stem_names)}

    def _apply_model(self, batch: np.ndarray, frames_total: int) -> np.ndarray:
        """demucs's ``apply_model``: segments of the model's length with overlap-add and
        transition weights (demucs/apply.py), optional time shifts; float64 result."""
        torch = self._torch
        from demucs.apply import apply_model

        mix = torch.from_numpy(batch)
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(_torch_threads(torch, self.threads))
                if self.shifts:
                    stack.enter_context(_seeded_python_random(_SHIFT_SEED))
                stack.enter_context(torch.inference_mode())
                stack.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore")
                out = apply_model(self._model, mix, shifts=self.shifts, split=True, overlap=self.overlap,
                                  progress=False, device="cpu", num_workers=0,
                                  callback=self._progress_hook(batch.shape[-1], frames_total))
                return out.to(torch.float64).numpy()
        except SncError:
            raise
        except Exception as exc:
            raise SncError(f"demucs separation failed: {short_error(exc)}") from None

    def _progress_hook(self, length: int, frames_total: int):
        """Turn demucs's per-segment callback into snc progress events (frames of this block)."""
        if self.progress is None:
            return None
        bag = self._demucs.apply.BagOfModels
        models = list(self._model.models) if isinstance(self._model, bag) else [self._model]
        passes = len(models) * max(1, self.shifts)
        report = self.progress

        def hook(event: dict) -> None:
            if event.get("state") != "end":
                return
            model_index = event.get("model_idx_in_bag", 0)
            sub_model = models[model_index]
            segment_length = int(sub_model.samplerate * sub_model.segment)  # as apply_model
            within = min(1.0, (event.get("segment_offset", 0) + segment_length) / length)
            done = (model_index * max(1, self.shifts) + event.get("shift_idx", 0) + within) / passes
            report({"stage": "demucs", "frames_done": min(frames_total, round(done * frames_total)),
                    "frames_total": frames_total})

        return hook


def _channel_groups(channels: int, model_channels: int) -> list[list[int]]:
    """Our channels in groups the model takes: (0, 1), (2, 3), ... for a stereo model;
    a last, smaller group is filled up by :func:`_fill_channels`."""
    return [list(range(start, min(start + model_channels, channels)))
            for start in range(0, channels, model_channels)]


def _fill_channels(group: list[int], model_channels: int) -> list[int]:
    """The group's channels repeated to the model's count: mono -> (0, 0) for a stereo model."""
    return [group[k % len(group)] for k in range(model_channels)]


def _resample(x: np.ndarray, from_rate: int, to_rate: int, axis: int = 0,
              length: int | None = None) -> np.ndarray:
    """Polyphase resampling by the reduced ratio; ``length`` trims or zero-pads the result
    so a round trip gives back exactly the input's length."""
    if from_rate != to_rate:
        from scipy.signal import resample_poly

        common = math.gcd(from_rate, to_rate)
        x = resample_poly(x, to_rate // common, from_rate // common, axis=axis)
    if length is not None and x.shape[axis] != length:
        if x.shape[axis] > length:
            x = np.take(x, np.arange(length), axis=axis)
        else:
            padding = [(0, 0)] * x.ndim
            padding[axis] = (0, length - x.shape[axis])
            x = np.pad(x, padding)
    return x


@contextlib.contextmanager
def _torch_threads(torch, threads: int | None):
    """torch's thread count is process-wide: set it for the call only."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _seeded_python_random(seed: int):
    """demucs draws its shifts from the global ``random``: seed it for the call, then put
    the caller's state back."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
