"""`vividvr models download|verify`: fetch the published checkpoints into the layout the engine reads, and check them.

Hugging Face repositories come through `huggingface_hub`'s own parts (listing, URLs, headers, `http_get`;
so HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and the HTTP(S)_PROXY variables count): only the files the engine
loads, all at one commit (the pin in published.py, else the one CHECKPOINTS/revisions.json locked on the
first download), each resumed across runs from its partial bytes and moved into place only with the
published hash. Release files (Real-ESRGAN) come from their published URL, resumable with
HTTP ranges, and are kept only when their SHA-256 is the published one; VIVIDVR_RELEASE_MIRROR replaces
https://github.com in their URLs. `verify` asks the hub for each file's size and SHA-256 when it can,
and otherwise checks the shipped manifest (tensor names and shapes, release checksums).
"""

from __future__ import annotations

import argparse
import errno
import http.client
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from vividvr_engine.checkpoint_verify import Finding, check, under
from vividvr_engine.published import PARTS, REQUIRED, HubSource, ReleaseFile, Required
from vividvr_engine.weights_check import sha256_of

if TYPE_CHECKING:
    from huggingface_hub.hf_api import RepoFile

GITHUB = "https://github.com"
MIRROR_ENV = "VIVIDVR_RELEASE_MIRROR"
TIMEOUT_S = 60
PROBE_TIMEOUT_S = 5.0  # `verify` waits this long for the hub before it checks the shipped manifest instead
LOCK = "revisions.json"  # under the checkpoint root: {repository: commit} of what was downloaded
PARTIAL = ".vividvr-partial"  # under a repository's folder: the bytes of unfinished files, kept across runs


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


def hub_error(source: HubSource, endpoint: str | None, exc: Exception, revision: str, then: str = "") -> ModelsError:
    """The hub's failures in an artist's words, with what to do; `then` follows the ones a rerun gets past."""
    import httpx2
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    where = f"{endpoint or os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, GatedRepoError) or status in (401, 403):
        return ModelsError(
            f"{where} refused {source.repo} (HTTP {status}): log in with `hf auth login` or set HF_TOKEN, and accept"
            f" the repository's terms at {source.url} if it asks"
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelsError(
            f"{where} has no revision {revision!r} of {source.repo}: a mirror may not carry it yet; if {LOCK} locks"
            " that commit, delete its line to lock the current one, else update VividVR"
        )
    if isinstance(exc, RepositoryNotFoundError) or status == 404:
        return ModelsError(
            f"{where} has no repository {source.repo} (HTTP 404): check HF_ENDPOINT (a mirror must carry {source.repo})"
        )
    if isinstance(exc, httpx2.TransportError):
        return ModelsError(
            f"cannot reach {where} for {source.repo} ({type(exc).__name__}: {detail}): check the connection and the"
            f" proxy variables, or set HF_ENDPOINT to a reachable mirror{then}"
        )
    return ModelsError(f"{where} failed on {source.repo}: {type(exc).__name__}: {detail}{then}")


def read_lock(root: Path) -> dict[str, str]:
    """{repository: commit} from ROOT/revisions.json, which the first download writes; {} before that."""
    path = root / LOCK
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(lock, dict) or not all(isinstance(v, str) for v in lock.values()):
            raise ValueError("not a {repository: commit} object")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelsError(
            f"{path} cannot be read ({exc}): restore it from another machine's checkpoint folder, or delete it and"
            " `vividvr models download` locks the hub's current commits again"
        ) from None
    return lock


def write_lock(root: Path, repo: str, commit: str) -> bool:
    """Record the commit of `repo` in ROOT/revisions.json, replaced atomically; False when it was there already."""
    lock = read_lock(root)
    if lock.get(repo) == commit:
        return False
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".{LOCK}.tmp"
    temporary.write_text(json.dumps({**lock, repo: commit}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(root / LOCK)
    return True


def chosen_revision(source: HubSource, root: Path) -> tuple[str, str]:
    """(revision, why that one): the pin in published.py, else the commit ROOT/revisions.json locks, else the branch."""
    locked = read_lock(root).get(source.repo)
    if source.pinned:
        upgraded = locked is not None and locked != source.revision
        return source.revision, "pinned by VividVR" + (
            f"; {root / LOCK} locked {locked}, from another VividVR version: the pin wins" if upgraded else "")
    if locked:
        return locked, f"locked in {root / LOCK}; delete that line to follow {source.revision!r}"
    return source.revision, f"the current commit of {source.revision!r}"


def resolve(source: HubSource, revision: str, endpoint: str | None, timeout: float) -> str:
    """The commit `revision` names on the hub.

    One request (`model_info`, which huggingface_hub does not retry), so an unreachable hub fails within `timeout`.
    """
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint).model_info(source.repo, revision=revision, timeout=timeout).sha or revision


def listing(source: HubSource, commit: str, endpoint: str | None) -> list[RepoFile]:
    """The files of the repository at `commit` that the engine loads, with size, git blob id and LFS SHA-256."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils import filter_repo_objects

    tree = HfApi(endpoint=endpoint).list_repo_tree(source.repo, recursive=True, revision=commit)
    files = [entry for entry in tree if isinstance(entry, RepoFile)]
    return list(filter_repo_objects(files, allow_patterns=list(source.patterns), key=lambda entry: entry.path))


def mismatch(path: Path, entry: RepoFile) -> str | None:
    """Why the file at `path` is not the published `entry` (size, then LFS SHA-256 or git blob id); None if it is."""
    from huggingface_hub.utils.sha import git_hash

    size = path.stat().st_size
    if size != entry.size:
        return f"{path} is {size} bytes, the published file {entry.size}"
    if entry.lfs is None:
        same = git_hash(path.read_bytes()) == entry.blob_id
        return None if same else f"{path} differs from the published file (git blob {entry.blob_id})"
    digest = sha256_of(path)
    return None if digest == entry.lfs.sha256 else f"{path} has SHA-256 {digest}, not the published {entry.lfs.sha256}"


def fetch(source: HubSource, entry: RepoFile, commit: str, folder: Path, endpoint: str | None) -> None:
    """One file into FOLDER/PATH, continuing the bytes an earlier run left in FOLDER/.vividvr-partial/PATH.incomplete.

    A file already there with the published size is kept. huggingface_hub's `http_get` does the transfer (its
    headers, token, proxies, retries and in-run resume), asked for `Range: bytes=N-` from what is on disk. It is a
    plain HTTP GET and never hands the file to hf_xet (only hf_hub_download's `xet_get` does, into a temporary
    file of its own that a failed run deletes); the hub's resolve URL serves xet-backed files over HTTP too.
    The file moves into place only when its SHA-256 (or git blob id) is the published one.
    """
    from huggingface_hub import hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    destination = folder / entry.path
    if destination.is_file() and destination.stat().st_size == entry.size:
        return
    partial = folder / PARTIAL / f"{entry.path}.incomplete"
    partial.parent.mkdir(parents=True, exist_ok=True)
    received = partial.stat().st_size if partial.is_file() else 0
    if received > entry.size:  # left by another version of the file: no use
        partial.unlink()
        received = 0
    url = hf_hub_url(source.repo, entry.path, revision=commit, endpoint=endpoint)
    with partial.open("ab") as out:
        http_get(url, out, resume_size=received, headers=build_hf_headers(), expected_size=entry.size,
                 displayed_filename=entry.path)
    problem = mismatch(partial, entry)
    if problem is not None:
        partial.unlink()
        raise ModelsError(
            f"{url} did not give the published file: {problem}. That partial file was deleted (nothing else was"
            " touched): run the same command again to fetch it anew"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial.replace(destination)


def download_hub(source: HubSource, root: Path, endpoint: str | None = None) -> Path:
    """Exactly the files the engine loads from one repository into ROOT/FOLDER, at one commit, resumable across runs.

    The commit is resolved first and locked in ROOT/revisions.json (see published.py), then each file is fetched
    at that commit; an interrupted file continues from its partial bytes on the next run.
    """
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    folder = root / source.folder
    revision = source.revision
    kept = f"; what arrived is kept under {folder}: run the same command again and it continues from there"
    try:
        if offline():
            raise OfflineModeIsEnabled
        revision, why = chosen_revision(source, root)
        revision = resolve(source, revision, endpoint, constants.HF_HUB_ETAG_TIMEOUT)
        recorded = f"; recorded in {root / LOCK}" if write_lock(root, source.repo, revision) else ""
        print(f"{source.repo}@{revision} ({why}{recorded})", flush=True)
        for entry in listing(source, revision, endpoint):
            fetch(source, entry, revision, folder, endpoint)
        shutil.rmtree(folder / PARTIAL, ignore_errors=True)  # every file is in place: what is left is stale
    except ModelsError:
        raise
    except OfflineModeIsEnabled:
        raise ModelsError(
            f"HF_HUB_OFFLINE is set, so {source.repo} cannot be downloaded: unset it, or set HF_ENDPOINT to a"
            " reachable mirror (`vividvr models verify` checks what is there without the hub)"
        ) from None
    except OSError as exc:
        raise disk_error(exc, folder) or hub_error(source, endpoint, exc, revision, kept) from None
    except Exception as exc:  # the hub's HTTP errors and httpx's network errors end the same way
        raise hub_error(source, endpoint, exc, revision, kept) from None
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


def hub_findings(source: HubSource, commit: str, root: Path, part: str, endpoint: str | None) -> list[Finding]:
    """Compare ROOT/FOLDER with the hub's listing at `commit`: every file present, same size and hash."""
    known = {r.path: r for r in REQUIRED[part]}
    findings = []
    for entry in listing(source, commit, endpoint):
        path = root / source.folder / entry.path
        relative = f"{source.folder}/{entry.path}"
        item = known.get(relative) or Required(relative, f"{entry.path} of {source.repo}", source)
        if not path.is_file():
            findings.append(Finding(part, item, path, f"missing {path} ({entry.size} bytes)"))
        elif (problem := mismatch(path, entry)) is not None:
            if path.stat().st_size == entry.size:  # `download` keeps a file of the published size
                problem += "; delete it so that the download fetches it again"
            findings.append(Finding(part, item, path, problem))
    return findings


def verify(parts: list[str], root: Path, endpoint: str | None = None) -> tuple[list[Finding], list[str]]:
    """(findings, how each part was checked): by the hub when it answers, else by the shipped manifest.

    The hub is asked once per repository, waiting at most PROBE_TIMEOUT_S, and not again once it did not
    answer: huggingface_hub's listing retries an unreachable host five times with backoff (about 25 s).
    """
    import httpx2

    findings: list[Finding] = []
    how: list[str] = []
    unreachable = "HF_HUB_OFFLINE is set" if offline() else None
    for part in parts:
        hub_sources = [s for s in PARTS[part] if isinstance(s, HubSource)]
        reason = unreachable
        if hub_sources and reason is None:
            checked: list[str] = []
            try:
                part_findings: list[Finding] = []
                for source in hub_sources:
                    revision, why = chosen_revision(source, root)
                    commit = resolve(source, revision, endpoint, PROBE_TIMEOUT_S)
                    part_findings += hub_findings(source, commit, root, part, endpoint)
                    checked.append(f"{source.repo}@{commit} ({why})")
            except ModelsError:
                raise
            except Exception as exc:  # unreachable, refused: the manifest still answers
                reason = f"the hub could not be asked: {hub_error(source, endpoint, exc, revision)}"
                if isinstance(exc, httpx2.TransportError):
                    unreachable = reason
            else:
                findings += part_findings
                how.append(f"{part}: checked against the hub's sizes and SHA-256 of {', '.join(checked)}")
                continue
        how.append(f"{part}: {reason + '; ' if hub_sources and reason else ''}checked against the shipped manifest")
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
    try:
        if args.models_action == "download":
            for source in sources(args.what):
                name = source.repo if isinstance(source, HubSource) else source.url
                print(f"downloading {name} into {root}", flush=True)
                download_hub(source, root) if isinstance(source, HubSource) else download_release(source, root)
        findings, how = verify(args.what, root)
    except ModelsError as exc:
        print(f"vividvr models {args.models_action}: {exc}", file=sys.stderr)
        return 1
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
