"""Loading demucs weights without downloading: a path the user gives (``.th`` package,
``.safetensors``, bag ``.yaml`` or a local repository) or demucs's own caches (the torch hub
checkpoints folder and the HuggingFace cache), each checked against the checksum in its name or
in the bag, so a damaged file is an error, not a silent bad separation.  torch and demucs are
imported inside the functions: :mod:`snc.separate.demucs` imports them first."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from snc.errors import InputError, NotAvailableError, SncError

#: the model used when none is named: demucs's own default (``demucs.pretrained.DEFAULT_MODEL``)
DEFAULT_MODEL = "htdemucs"

@dataclass(frozen=True)
class LoadedModel:
    model: object
    label: str  # provenance "model": the name, or the checkpoint's file name
    weights_sha256: str


def looks_like_path(model) -> bool:
    """``--model`` takes a path or a name; anything path-shaped or existing is a path."""
    if isinstance(model, os.PathLike):
        return True
    text = str(model)
    if text.startswith("hf://"):
        return False
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return (any(s in text for s in separators) or Path(text).suffix in (".th", ".safetensors", ".yaml")
            or os.path.exists(text))


def load_from_path(path: Path) -> LoadedModel:
    """A demucs ``.th`` package, a ``.safetensors`` file, a bag ``.yaml`` or a local repo directory."""
    from demucs.hf import load_safetensors_model
    from demucs.states import load_model

    if not path.exists():
        raise InputError(f"demucs model {str(path)!r} does not exist")
    if path.is_dir() or path.suffix == ".yaml":
        return _load_local_repo(path)
    what = f"{str(path)!r} is not a loadable demucs model"
    if path.suffix == ".safetensors":
        model = _call_demucs(what, load_safetensors_model, path)
    else:
        # a pickled package {klass, args, kwargs, state} (demucs/states.py): only load trusted files
        model = _call_demucs(what, load_model, path)
    _check_is_model(model, what)
    return LoadedModel(model, path.name, _file_sha256(path))


def _load_local_repo(path: Path) -> LoadedModel:
    """A folder of ``.th`` models and bag ``.yaml`` files, as ``python -m demucs --repo``:
    the bag is ``htdemucs`` or the folder's only one, or the ``.yaml`` given."""
    from demucs.pretrained import get_model
    from demucs.repo import LocalRepo

    root = path if path.is_dir() else path.parent
    what = f"{str(path)!r} is not a loadable demucs model directory"
    models_by_signature = _call_demucs(what, lambda: LocalRepo(root).list_model())
    if path.is_dir():
        bags = sorted(p.stem for p in root.glob("*.yaml"))
        if DEFAULT_MODEL in bags:
            name = DEFAULT_MODEL
        elif len(bags) == 1:
            name = bags[0]
        elif not bags and len(models_by_signature) == 1:
            name = next(iter(models_by_signature))
        elif not bags and not models_by_signature:
            raise InputError(f"{str(path)!r} holds no demucs model (.th or .yaml files)")
        else:
            choices = bags or sorted(models_by_signature)
            raise InputError(f"{str(path)!r} holds several demucs models ({', '.join(choices)}): "
                             "pass the .yaml or .th file of the one to use")
    else:
        name = path.stem

    model = _call_demucs(what, get_model, name, root)
    _check_is_model(model, what)
    signatures = _bag_signatures(root / f"{name}.yaml") if (root / f"{name}.yaml").exists() else [name]
    files = [Path(models_by_signature[s]) for s in signatures if s in models_by_signature]
    return LoadedModel(model, name, _combined_sha256(files))


def load_from_name(name: str) -> LoadedModel:
    """A pretrained model by name, from the local caches only: the torch hub checkpoints
    folder (legacy demucs downloads, demucs/remote/files.txt) then the HuggingFace cache
    (demucs/hf.py).  Never the network."""
    import torch
    from demucs import pretrained

    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    hf_cache = hf_cache_dir()
    if name.startswith("hf://"):
        loaded, problem = _load_from_hf_cache(name[len("hf://"):], hf_cache)
        if loaded is not None:
            return loaded
        raise NotAvailableError(
            f"demucs model {name!r} is not in the HuggingFace cache {hf_cache}{problem} and nothing is "
            f"downloaded at run time: pass --model PATH to its files, or run `python -m demucs -n {name} "
            "ANY.wav` once on a machine with network access to fill the cache, or use --separator dsp")

    urls = _call_demucs("cannot read demucs's model list", pretrained._parse_remote_files,
                        pretrained.REMOTE_ROOT / "files.txt")
    bag_file = pretrained.REMOTE_ROOT / f"{name}.yaml"
    if bag_file.exists():
        bag = _read_bag(bag_file)
    elif name in urls:
        bag = {"models": [name]}  # a single model's signature
    else:
        known = sorted(p.stem for p in pretrained.REMOTE_ROOT.glob("*.yaml"))
        raise InputError(f"unknown demucs model {name!r} (known: {', '.join(known)}); "
                         "--model also takes a path to a .th, .safetensors or model directory")
    signatures = list(bag["models"])
    download_urls = [urls[s] for s in signatures if s in urls]
    problems = []

    files = [hub_dir / urls[s].rsplit("/", 1)[-1] for s in signatures if s in urls]
    if len(files) == len(signatures) and all(f.is_file() for f in files):
        digests = [_file_sha256(f) for f in files]
        corrupted = [f for f, digest in zip(files, digests) if not _matches_name_checksum(f, digest)]
        if not corrupted:
            from demucs.apply import BagOfModels
            from demucs.states import load_model

            what = f"cannot load demucs model {name!r} from {hub_dir}"
            models = [_call_demucs(what, load_model, f) for f in files]
            model = _call_demucs(what, BagOfModels, models, bag.get("weights"), bag.get("segment"))
            return LoadedModel(model, name, _combined_digest(digests))
        problems.append(f"; corrupted (sha256 does not match the name): {', '.join(map(str, corrupted))}, "
                        "delete and download again")

    if bag_file.exists():  # the HuggingFace repos hold bags only
        loaded, problem = _load_from_hf_cache(name, hf_cache)
        if loaded is not None:
            return loaded
        problems.append(problem)

    raise NotAvailableError(
        f"demucs model {name!r} is not in the local caches (looked in {hub_dir} and the HuggingFace cache "
        f"{hf_cache}{''.join(problems)}) and nothing is downloaded at run time. To get it: download "
        f"{' '.join(download_urls)} into {hub_dir}/, or pass --model PATH (a demucs .th or .safetensors file "
        f"or a folder of them), or run `python -m demucs -n {name} ANY.wav` once on a machine with network "
        "access (it fills these caches), or use --separator dsp")


def _load_from_hf_cache(name: str, cache_dir: str) -> tuple[LoadedModel | None, str]:
    """The bag ``name`` (``[namespace/]name``) from the HuggingFace cache as demucs/hf.py
    ``get_hf_model`` lays it out, with ``local_files_only``; (None, why) when absent."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None, "; huggingface_hub is not installed"
    from demucs.apply import BagOfModels
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model

    namespace, _, bare_name = name.rpartition("/")
    repo_id = f"{namespace or DEFAULT_NAMESPACE}/{hf_repo_name(bare_name)}"

    def cached(filename: str) -> Path | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return Path(hf_hub_download(repo_id, filename, cache_dir=cache_dir, local_files_only=True))
        except Exception:  # not cached (LocalEntryNotFoundError) or an unusable cache entry
            return None

    bag_file = cached(f"{bare_name}.yaml")
    if bag_file is None:
        return None, ""
    bag = _read_bag(bag_file)
    files = [cached(f"{signature}.safetensors") for signature in bag["models"]]
    if any(f is None for f in files):
        return None, f"; {repo_id} is only partly cached"
    what = f"cannot load demucs model {name!r} from the HuggingFace cache {cache_dir}"
    models = [_call_demucs(what, load_safetensors_model, f) for f in files]
    model = _call_demucs(what, BagOfModels, models, bag.get("weights"), bag.get("segment"))
    return LoadedModel(model, bare_name, _combined_sha256(files)), ""


def describe_model_object(model) -> LoadedModel:
    """A model built by the caller: its hash is over the state dict (key, then tensor bytes,
    in key order), since there is no file."""
    import torch

    _check_is_model(model, f"{type(model).__name__} is not a demucs model")
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        # raw bytes whatever the dtype (numpy has no bfloat16): view as uint8 first
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return LoadedModel(model, type(model).__name__, digest.hexdigest())


def _check_is_model(model, what: str) -> None:
    """What ``apply_model`` needs from a model or a bag of models."""
    from demucs.apply import BagOfModels

    needed = ("sources", "samplerate", "audio_channels") + (() if isinstance(model, BagOfModels) else ("segment",))
    if not all(hasattr(model, attribute) for attribute in needed) or not hasattr(model, "state_dict"):
        raise InputError(f"{what}: it lacks {', '.join(a for a in needed if not hasattr(model, a)) or 'state_dict'}")


def _call_demucs(what: str, function, *args):
    """Call into demucs/torch; any failure becomes one :class:`InputError` line.  demucs
    reports some errors with ``utils.fatal`` (print, then ``sys.exit``): capture both."""
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(printed):
            warnings.simplefilter("ignore")
            return function(*args)
    except SystemExit:
        message = " ".join(printed.getvalue().split()) or "demucs exited"
        if "diffq" in message:
            raise NotAvailableError(f"{what}: this quantised model needs the package diffq "
                                    "(pip install diffq)") from None
        raise InputError(f"{what}: {message}") from None
    except SncError:
        raise
    except Exception as exc:
        raise InputError(f"{what}: {short_error(exc)}") from None


def _read_bag(path: Path) -> dict:
    """A bag-of-models ``.yaml`` (demucs/repo.py ``BagOnlyRepo``): models, optional weights, segment."""
    import yaml

    what = f"{str(path)!r} is not a demucs bag of models"
    bag = _call_demucs(what, lambda: yaml.safe_load(path.read_text()))
    if not isinstance(bag, dict) or not isinstance(bag.get("models"), list) or not bag["models"]:
        raise InputError(f"{what}: no 'models' list")
    return bag


def _bag_signatures(path: Path) -> list[str]:
    return [str(signature) for signature in _read_bag(path)["models"]]


def hf_cache_dir() -> str:
    """The HuggingFace hub cache, resolved now from the environment with huggingface_hub's
    precedence (its ``constants`` froze the environment at import time)."""
    env = os.environ
    default_home = os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                                "huggingface")
    hf_home = os.path.expanduser(env.get("HF_HOME") or default_home)
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(hf_home, "hub")
    return os.path.expandvars(os.path.expanduser(cache))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _combined_sha256(paths: list[Path]) -> str:
    return _combined_digest([_file_sha256(p) for p in paths])


def _combined_digest(digests: list[str]) -> str:
    """One file: its sha256.  Several (a bag): sha256 of their hex digests, sorted and
    concatenated, so the result does not depend on the order the bag lists them."""
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()


def _matches_name_checksum(path: Path, digest: str) -> bool:
    """torch hub names downloads ``<sig>-<sha256 prefix>.th`` (and checks it, demucs/repo.py
    ``check_checksum``); a mismatch is a truncated or corrupted download."""
    return "-" in path.stem and digest.startswith(path.stem.rsplit("-", 1)[-1])


# ----------------------------------------------------------------------------- signal helpers


def short_error(exc: BaseException) -> str:
    """``Type: first line`` of an exception, for one-line error messages."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
