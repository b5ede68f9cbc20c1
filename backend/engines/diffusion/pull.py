"""``models pull``: download weights into a models folder (the only network use).

``--profile controlnet`` (the default) fetches public parts assembled for reference animation;
``--profile animate-anyone`` / ``musepose`` fetch the released AnimateAnyone-family files in the layout
their projects' download scripts use, then convert them (``convert.py``) and delete the download.

Defaults, all SD1.x-architecture and public:
- UNet, VAE, CLIP image encoder: lambdalabs/sd-image-variations-diffusers (v2.0), an SD UNet fine-tuned
  to be conditioned on CLIP *image* embeddings -- what AnimateAnyone-style reference animation
  conditions on, and it needs no tokenizer. The reference UNet shares these weights.
- ControlNet OpenPose: lllyasviel/control_v11p_sd15_openpose.
- Motion module: guoyww/animatediff-motion-adapter-v1-5-2.
- Scheduler: DDIM with SD1.5's noise schedule (written locally).

These are not trained together for animation; the folder layout accepts any diffusers-format
components (e.g. converted AnimateAnyone weights) by editing ``models.json``. Files land in a staging
folder first and are moved into place only when every download succeeded, so an interrupted pull
leaves no half-written component behind; it can simply be run again.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from tpc_protocol.errors import ErrorCode

from ...errors import UserError
from .model_folder import ModelFolder, default_layout, write_manifest
from .random_models import SCHEDULER_CONFIG

IMAGE_VARIATIONS = ("lambdalabs/sd-image-variations-diffusers", "v2.0")
# component -> (repository, revision, folder inside the repository)
SOURCES: dict[str, tuple[str, str, str]] = {
    "unet": (*IMAGE_VARIATIONS, "unet"),
    "vae": (*IMAGE_VARIATIONS, "vae"),
    "image_encoder": (*IMAGE_VARIATIONS, "image_encoder"),
    "feature_extractor": (*IMAGE_VARIATIONS, "feature_extractor"),
    "controlnet": ("lllyasviel/control_v11p_sd15_openpose", "main", ""),
    "motion_adapter": ("guoyww/animatediff-motion-adapter-v1-5-2", "main", ""),
}
_WEIGHTS = ("diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.bin", "pytorch_model.bin")


def pull_default_models(directory: str | os.PathLike, say: Callable[[str], None] = lambda line: None) -> ModelFolder:
    """Download every default component into ``directory`` and write its ``models.json``."""
    root = Path(directory).expanduser()
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    advice = (
        f"connect this machine to the internet and run it again, or copy diffusers-format folders into {root} "
        "and list them in its models.json (see the README)"
    )
    _check_reachable(endpoint, advice)
    from huggingface_hub import HfApi, hf_hub_download

    staging = root / ".pull"
    api = HfApi(endpoint=endpoint)
    try:
        for component, (repository, revision, folder) in SOURCES.items():
            files = _files_to_fetch(api.list_repo_files(repository, revision=revision), folder)
            if not any(name.rsplit("/", 1)[-1] in _WEIGHTS for name in files) and component != "feature_extractor":
                raise UserError(f"{repository} has no weights in {folder or 'its root'}; the default sources may have moved")
            say(f"{component}: {repository} ({len(files)} files)")
            for name in files:
                hf_hub_download(repository, name, revision=revision, local_dir=staging / component, endpoint=endpoint)
    except UserError:
        raise
    except Exception as error:  # the hub client raises transport, HTTP and filesystem errors of many kinds
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"downloading the default weights failed ({reason}); {advice}", ErrorCode.NETWORK) from None
    for component, (_, _, folder) in SOURCES.items():
        target = root / default_layout()[component]
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(staging / component / folder), str(target))
        shutil.rmtree(target / ".cache", ignore_errors=True)  # the hub client's download bookkeeping
    shutil.rmtree(staging, ignore_errors=True)
    from diffusers import DDIMScheduler

    DDIMScheduler.from_config(SCHEDULER_CONFIG).save_pretrained(root / default_layout()["scheduler"])
    sources = {component: f"{repository}@{revision}/{folder}".rstrip("/") for component, (repository, revision, folder) in SOURCES.items()}
    write_manifest(root, resolution=512, sources=sources)
    return ModelFolder.read(root)


def pull_released(family_name: str, directory: str | os.PathLike, say: Callable[[str], None] = lambda line: None) -> ModelFolder:
    """Download a released family's files (next to ``directory``), convert them into ``directory``."""
    from .convert import convert_released
    from .released import FAMILIES

    family = FAMILIES[family_name]
    root = Path(directory).expanduser()
    if root.exists() and any(root.iterdir()):
        raise UserError(f"{root} is not empty; give a new folder for the {family.title} models")
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    advice = (
        f"connect this machine to the internet and run it again, or download {family.title}'s files with its own "
        f"script and run `tpc-backend models convert --from {family.name} SRC {root}`"
    )
    _check_reachable(endpoint, advice)
    from huggingface_hub import hf_hub_download

    download = root.parent / f".{root.name}.download"
    try:
        for item in family.downloads:
            say(f"{item.destination}: {item.repository}")
            fetched = Path(hf_hub_download(item.repository, item.path, local_dir=download / ".hub", endpoint=endpoint))
            target = download / item.destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(fetched), str(target))
    except Exception as error:  # the hub client raises transport, HTTP and filesystem errors of many kinds
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"downloading {family.title}'s files failed ({reason}); {advice}", ErrorCode.NETWORK) from None
    if root.exists():
        root.rmdir()  # empty: convert writes the folder whole
    try:
        return convert_released(family.name, download, root, say=say)
    finally:
        shutil.rmtree(download, ignore_errors=True)


def _check_reachable(endpoint: str, advice: str) -> None:
    """Fail in seconds, with a sentence, when the hub cannot be reached (rather than after retries)."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return  # only the proxy knows; let the download itself report
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise UserError(f"HF_HUB_OFFLINE is set, so the default weights cannot be downloaded; unset it, or {advice}", ErrorCode.NETWORK)
    url = urlparse(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as error:
        reason = error.strerror or error
        raise UserError(f"cannot reach {endpoint} to download the default weights ({reason}); {advice}", ErrorCode.NETWORK) from None


def _files_to_fetch(files: list[str], folder: str) -> list[str]:
    """Configs of ``folder`` and its one best weights file (safetensors over pickles, no variants)."""
    prefix = f"{folder}/" if folder else ""
    inside = [name for name in files if name.startswith(prefix) and "/" not in name[len(prefix) :]]
    configs = [name for name in inside if name.endswith(".json") or name.endswith(".txt")]
    weights = next((prefix + choice for choice in _WEIGHTS if prefix + choice in inside), None)
    return configs + ([weights] if weights else [])
