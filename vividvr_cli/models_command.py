"""`vividvr models download|verify`: fetch the published checkpoints into the layout the engine reads, and check them.

Hugging Face repositories come through `huggingface_hub` (only the files the engine loads, at the
revision `published.py` names, resumable; it honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and the
HTTP(S)_PROXY variables). Release files (Real-ESRGAN) come from their published URL, resumable with
HTTP ranges, and are kept only when their SHA-256 is the published one; VIVIDVR_RELEASE_MIRROR replaces
https://github.com in their URLs. `verify` asks the hub for each file's size and SHA-256 when it can,
and otherwise checks the shipped manifest (tensor names and shapes, release checksums).
"""

from __future__ import annotations

import argparse
import errno
import http.client
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from vividvr_engine.checkpoint_verify import Finding, check, under
from vividvr_engine.published import PARTS, REQUIRED, HubSource, ReleaseFile, Required
from vividvr_engine.weights_check import sha256_of

GITHUB = "https://github.com"
MIRROR_ENV = "VIVIDVR_RELEASE_MIRROR"
TIMEOUT_S = 60


class ModelsError(RuntimeError):
    """A download or check that cannot go on; the message says what happened and what to do."""


def parse_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"choose from {','.join(PARTS)} (got {text!r})")
    return parts


def sources(parts: Iterable[str]) -> list[HubSource | ReleaseFile]:
    """The downloads for the parts, each once."""
    chosen: list[HubSource | ReleaseFile] = []
    for part in parts:
        chosen += [s for s in PARTS[part] if s not in chosen]
    return chosen


# ------------------------------------------------------------------------------------ download


def hub_error(source: HubSource, endpoint: str | None, exc: Exception) -> ModelsError:
    """The hub's failures in an artist's words, with what to do."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    where = f"{endpoint or os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, GatedRepoError) or status in (401, 403):
        return ModelsError(
            f"{where} refused {source.repo} (HTTP {status}): log in with `hf auth login` or set HF_TOKEN, and accept"
            f" the repository's terms at {source.url} if it asks"
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelsError(f"{where} has no revision {source.revision!r} of {source.repo}; update VividVR")
    if isinstance(exc, RepositoryNotFoundError) or status == 404:
        return ModelsError(
            f"{where} has no repository {source.repo} (HTTP 404): check HF_ENDPOINT (a mirror must carry {source.repo})"
        )
    detail = (str(exc).strip().splitlines() or [""])[0]
    return ModelsError(
        f"downloading {source.repo} from {where} stopped: {type(exc).__name__}: {detail}. Finished files are kept;"
        " run the same command again to fetch the rest"
    )


def download_hub(source: HubSource, root: Path, endpoint: str | None = None) -> Path:
    """Exactly the files the engine loads from one repository into ROOT/FOLDER.

    A dropped connection resumes within the run from the bytes received (HTTP ranges); huggingface_hub
    discards a partial file when a run fails, so across runs finished files are kept and skipped.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    folder = root / source.folder
    try:
        snapshot_download(
            source.repo,
            revision=source.revision,
            local_dir=folder,
            allow_patterns=list(source.patterns),
            endpoint=endpoint,
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        if exc.__cause__ is not None and not offline():  # the hub answered, with an error
            raise hub_error(source, endpoint, exc.__cause__) from None
        raise ModelsError(
            f"cannot reach the hub for {source.repo} ({'HF_HUB_OFFLINE is set' if offline() else exc}) and"
            f" {folder} is not complete: unset HF_HUB_OFFLINE or set HF_ENDPOINT to a reachable mirror"
        ) from None
    except OSError as exc:
        raise disk_error(exc, folder) or hub_error(source, endpoint, exc) from None
    except Exception as exc:  # the hub's HTTP errors and httpx's network errors end the same way
        raise hub_error(source, endpoint, exc) from None
    return folder


def disk_error(exc: OSError, folder: Path) -> ModelsError | None:
    if exc.errno != errno.ENOSPC:
        return None
    free = shutil.disk_usage(folder if folder.exists() else folder.parent).free
    return ModelsError(
        f"the disk holding {folder} is full ({free / 2**30:.1f} GiB free): free space and run the same command"
        " again; what was downloaded is kept and the download continues from it"
    )


def offline() -> bool:
    from huggingface_hub.constants import is_offline_mode

    return is_offline_mode()


def release_url(item: ReleaseFile) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    return mirror.rstrip("/") + item.url[len(GITHUB) :] if mirror and item.url.startswith(GITHUB) else item.url


def download_release(item: ReleaseFile, root: Path) -> Path:
    """One release file, resumed from ROOT/PATH.incomplete, kept only when its SHA-256 is the published one."""
    destination = root / item.path
    if destination.is_file() and destination.stat().st_size == item.size and sha256_of(destination) == item.sha256:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".incomplete")
    offset = partial.stat().st_size if partial.is_file() else 0
    url = release_url(item)
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            resumed = offset > 0 and response.status == 206
            with partial.open("ab" if resumed else "wb") as out:
                shutil.copyfileobj(response, out, 2**20)
    except urllib.error.HTTPError as exc:
        raise ModelsError(f"{url} answered HTTP {exc.code} {exc.reason}; set {MIRROR_ENV} to a mirror") from None
    except OSError as exc:
        kept = partial.stat().st_size if partial.is_file() else 0
        raise disk_error(exc, destination.parent) or ModelsError(
            f"downloading {url} stopped ({type(exc).__name__}: {exc}); {kept} bytes are kept in {partial}: run the"
            " same command again and it resumes"
        ) from None
    except http.client.HTTPException as exc:
        raise ModelsError(
            f"downloading {url} stopped ({type(exc).__name__}); the bytes that arrived are kept in {partial}: run the"
            " same command again and it resumes"
        ) from None
    digest = sha256_of(partial)
    if digest != item.sha256:
        partial.unlink()
        raise ModelsError(
            f"{url} sent a file whose SHA-256 is {digest}, not the published {item.sha256}; it was deleted (nothing"
            " else was touched). Check the mirror or proxy and run again"
        )
    partial.replace(destination)
    return destination


# -------------------------------------------------------------------------------------- verify


def hub_findings(source: HubSource, root: Path, part: str, endpoint: str | None) -> list[Finding]:
    """Compare ROOT/FOLDER with the hub's listing of the pinned revision: every file present, same size and hash."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects
    from huggingface_hub.utils.sha import git_hash

    listing = HfApi(endpoint=endpoint).list_repo_tree(source.repo, recursive=True, revision=source.revision)
    remote = [f for f in listing if getattr(f, "size", None) is not None and hasattr(f, "blob_id")]
    chosen = list(filter_repo_objects(remote, allow_patterns=list(source.patterns), key=lambda f: f.path))
    known = {r.path: r for r in REQUIRED[part]}
    findings = []
    for entry in chosen:
        path = root / source.folder / entry.path
        relative = f"{source.folder}/{entry.path}"
        item = known.get(relative) or Required(relative, f"{entry.path} of {source.repo}", source)
        if not path.is_file():
            findings.append(Finding(part, item, path, f"missing {path} ({entry.size} bytes)"))
            continue
        size = path.stat().st_size
        if size != entry.size:
            problem = f"{path} is {size} bytes, the published file {entry.size}"
        elif entry.lfs is not None and sha256_of(path) != entry.lfs.sha256:
            problem = f"{path} has another SHA-256 than the published {entry.lfs.sha256}"
        elif entry.lfs is None and git_hash(path.read_bytes()) != entry.blob_id:
            problem = f"{path} differs from the published file (git blob {entry.blob_id})"
        else:
            continue
        findings.append(Finding(part, item, path, problem))
    return findings


def verify(parts: list[str], root: Path, endpoint: str | None = None) -> tuple[list[Finding], list[str]]:
    """(findings, how each part was checked): by the hub when it answers, else by the shipped manifest."""
    findings: list[Finding] = []
    how: list[str] = []
    for part in parts:
        hub_sources = [s for s in PARTS[part] if isinstance(s, HubSource)]
        reason = "HF_HUB_OFFLINE is set" if hub_sources and offline() else None
        if hub_sources and reason is None:
            try:
                findings += [f for s in hub_sources for f in hub_findings(s, root, part, endpoint)]
            except Exception as exc:  # unreachable, refused: the manifest still answers
                reason = f"the hub could not be asked ({str(hub_error(hub_sources[0], endpoint, exc)).split(':')[0]})"
            else:
                revisions = ", ".join(f"{s.repo}@{s.revision}" for s in hub_sources)
                how.append(f"{part}: checked against the hub's sizes and SHA-256 of {revisions}")
                continue
        how.append(f"{part}: {reason + '; ' if reason else ''}checked against the shipped manifest")
        findings += check([part], under(root), thorough=True)
    return findings, how


# ------------------------------------------------------------------------------------------ CLI


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="download or verify the published checkpoints")
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    for action, help_text in (("download", "fetch the published files the engine loads (resumable)"),
                              ("verify", "check every file the engine needs against the published ones")):
        sub = actions.add_parser(action, help=help_text)
        sub.add_argument("--what", type=parse_parts, default=["vividvr"],
                         help=f"comma-separated parts: {','.join(PARTS)} (default: vividvr)")
        sub.add_argument("--checkpoints", type=Path,
                         help="the checkpoint folder (default: $VIVIDVR_CHECKPOINTS or the per-user data folder)")
        sub.set_defaults(run=run)


def checkpoint_root(given: Path | None) -> Path:
    if given is not None:
        return given.expanduser()
    from vividvr_engine.pipeline import default_checkpoint_root  # imports torch: only when needed

    return default_checkpoint_root()


def run(args: argparse.Namespace) -> int:
    root = checkpoint_root(args.checkpoints)
    if args.models_action == "download":
        try:
            for source in sources(args.what):
                name = source.repo if isinstance(source, HubSource) else source.url
                print(f"downloading {name} into {root}", flush=True)
                download_hub(source, root) if isinstance(source, HubSource) else download_release(source, root)
        except ModelsError as exc:
            print(f"vividvr models download: {exc}", file=sys.stderr)
            return 1
    findings, how = verify(args.what, root)
    for line in how:
        print(line)
    return report(findings, args.what, root)


def report(findings: list[Finding], parts: list[str], root: Path) -> int:
    problems = [f for f in findings if not f.note]
    for finding in findings:
        label = "note" if finding.note else "PROBLEM"
        fix = "" if finding.note else f"\n    fix: vividvr models download --what {finding.part} --checkpoints {root}"
        print(f"{label}: {finding.line()}{fix}")
    if any("is not the published file" in f.problem for f in problems):
        print(f"{root} does not hold the published checkpoints (a test or foreign tree?): the files above differ")
    if problems:
        print(f"{len(problems)} file(s) missing or not the published ones", file=sys.stderr)
        return 1
    print(f"every file of {','.join(parts)} under {root} is the published one")
    return 0
