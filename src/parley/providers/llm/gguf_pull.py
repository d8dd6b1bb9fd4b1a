"""`parley models pull llm-<name>`: a larger GGUF than the bundled 135M model.

The file goes to `<data_dir>/models/llm/`, with `<file>.sha256` beside it (the digest of
what was downloaded), which start-up checks before loading, as it checks the bundled
model against the digest recorded in `gguf.py`. Offline, the error names the URL and the
folder, so the file can be brought by hand.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from parley.providers.llm.gguf import GGUF_MAGIC, SIDECAR_SUFFIX

HUB_URL = "https://huggingface.co"


@dataclass(frozen=True)
class KnownGGUF:
    repo: str
    file: str
    about: str

    def url(self, hub: str) -> str:
        return f"{hub.rstrip('/')}/{self.repo}/resolve/main/{self.file}"


KNOWN_GGUFS: dict[str, KnownGGUF] = {
    "qwen2.5-0.5b-instruct": KnownGGUF(
        "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        "qwen2.5-0.5b-instruct-q8_0.gguf",
        "Qwen2.5 0.5B Instruct, Q8_0, ~0.65 GB, Apache-2.0",
    ),
    "qwen2.5-1.5b-instruct": KnownGGUF(
        "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        "Qwen2.5 1.5B Instruct, Q4_K_M, ~1.1 GB, Apache-2.0; its template offers tools",
    ),
    "llama-3.2-1b-instruct": KnownGGUF(
        "hugging-quants/Llama-3.2-1B-Instruct-Q4_K_M-GGUF",
        "llama-3.2-1b-instruct-q4_k_m.gguf",
        "Llama 3.2 1B Instruct, Q4_K_M, ~0.8 GB, Llama 3.2 Community License",
    ),
}


class GGUFPullError(RuntimeError):
    """The download failed; the message says where to put the file by hand."""


def known_names() -> str:
    return ", ".join(f"llm-{n}" for n in KNOWN_GGUFS)


def pull_gguf(
    name: str, dest: Path, *, hub_url: str | None = None, timeout_s: float = 30.0
) -> Path:
    """Download known GGUF `name` into `dest` (kept if already there); its path.

    Raises ValueError for a name not in `KNOWN_GGUFS`, `GGUFPullError` otherwise.
    """
    known = KNOWN_GGUFS.get(name)
    if known is None:
        raise ValueError(f"unknown LLM {name!r}; known: {known_names()}")
    hub = hub_url or os.environ.get("HF_ENDPOINT") or HUB_URL
    url = known.url(hub)
    path = dest / known.file
    use = f"then run with PARLEY_LLM_GGUF={path}"
    by_hand = f"download {url} by hand into {dest}, {use}"
    if path.is_file() and path.with_name(path.name + SIDECAR_SUFFIX).is_file():
        return path
    try:
        dest.mkdir(parents=True, exist_ok=True)
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        with httpx.Client(follow_redirects=True, timeout=timeout) as client:
            digest = _download(client, url, path)
    except httpx.HTTPStatusError as e:
        raise GGUFPullError(
            f"Could not download {name}: {e.request.url} answered HTTP "
            f"{e.response.status_code}; {by_hand}"
        ) from e
    except httpx.HTTPError as e:
        raise GGUFPullError(
            f"Could not download {name}: could not reach the model hub at {hub} "
            f"({str(e) or type(e).__name__}); {by_hand}"
        ) from e
    except OSError as e:
        raise GGUFPullError(f"Could not write {path}: {e}") from e
    path.with_name(path.name + SIDECAR_SUFFIX).write_text(f"{digest}  {known.file}\n")
    return path


def _download(client: httpx.Client, url: str, path: Path) -> str:
    part = path.with_name(f"{path.name}.part")
    digest = hashlib.sha256()
    try:
        with client.stream("GET", url) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0)
            done = 0
            with part.open("wb") as out:
                for data in response.iter_bytes(1 << 20):
                    if done == 0 and not data.startswith(GGUF_MAGIC[: len(data)]):
                        raise GGUFPullError(f"{url} did not send a GGUF file")
                    out.write(data)
                    digest.update(data)
                    done += len(data)
                    if total and sys.stderr.isatty():
                        print(f"\r{path.name}: {done * 100 // total}%", end="", file=sys.stderr)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
    return digest.hexdigest()
