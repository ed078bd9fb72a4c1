"""A Hugging Face hub for tiny repositories, on 127.0.0.1, answering the endpoints huggingface_hub calls.

- GET  /api/models/{repo}/revision/{rev}         repository info (`sha`, `siblings`)
- GET  /api/models/{repo}/tree/{rev}[?recursive]  the file listing: size, git blob id, LFS sha256
- HEAD /{repo}/resolve/{rev}/{path}              ETag / X-Repo-Commit / X-Linked-Etag / X-Linked-Size
- GET  /{repo}/resolve/{rev}/{path}              the bytes, honouring `Range: bytes=N-` (206)
- GET  /files/{name}                             plain files (release assets), with ranges too

`rev` is "main" (the files of `repos`, at `commit`) or the hash of a commit: `commit`, or one of `older`
(what `push` moved there, or a pinned commit a test serves). Any other revision is a 404 RevisionNotFound.

Faults for the tests: `status` answers every request with that HTTP status; `drop_after[path] = n`
sends the first n bytes of the next GET of `path` and closes the connection (once per entry);
`fail_after_drop` answers the next GET of a dropped file with 503, as an overloaded hub does.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 1000  # files at least this big are "LFS" files, as weights are on the hub


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class TinyHub:
    repos: dict[str, dict[str, bytes]]  # repository -> path -> bytes, on "main"
    commit: str = "0123456789abcdef0123456789abcdef01234567"  # what "main" points at
    older: dict[str, dict[str, dict[str, bytes]]] = field(default_factory=dict)  # commit -> repos, served by hash
    release_files: dict[str, bytes] = field(default_factory=dict)
    status: int | None = None
    drop_after: dict[str, int] = field(default_factory=dict)
    fail_after_drop: bool = False
    ignore_ranges: bool = False  # answer every GET whole (200), as some proxies and mirrors do
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range)
    _dropped: set[str] = field(default_factory=set)

    def files(self, repo: str, revision: str) -> dict[str, bytes] | None:
        """The repository's files at a revision, None when the hub has no such repository or revision."""
        return (self.repos if revision in ("main", self.commit) else self.older.get(revision, {})).get(repo)

    def push(self, repos: dict[str, dict[str, bytes]], commit: str) -> None:
        """A new commit on "main"; the previous one stays downloadable by its hash, as on the hub."""
        self.older[self.commit] = self.repos
        self.repos, self.commit = repos, commit

    def tree(self, files: dict[str, bytes]) -> list[dict]:
        entries = []
        for path, data in sorted(files.items()):
            entry = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
            if len(data) >= LFS_THRESHOLD:
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        return entries

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub.handle(self, head=True)

            def do_GET(self) -> None:
                hub.handle(self, head=False)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    # ------------------------------------------------------------------------------ answers

    def handle(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlsplit(request.path).path)
        self.requests.append((request.command, path, request.headers.get("Range")))
        if self.status is not None:
            return self.send_json(request, {"error": "refused"}, self.status, head, error_code="RepoNotFound")
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+).*", path)
        match = api or re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match and any(match.group(1) in repos for repos in (self.repos, *self.older.values())):
            repo, revision = match.group(1), match.group(3 if api else 2)
            files = self.files(repo, revision)
            if files is None:
                return self.send_json(request, {"error": "Invalid rev id"}, 404, head, error_code="RevisionNotFound")
            sha = self.commit if revision == "main" else revision
            if api and api.group(2) == "tree":
                return self.send_json(request, self.tree(files), 200, head)
            if api:
                siblings = [{"rfilename": p} for p in sorted(files)]
                return self.send_json(request, {"id": repo, "sha": sha, "siblings": siblings}, 200, head)
            if match.group(3) in files:
                return self.send_file(request, match.group(3), files[match.group(3)], head, sha)
        match = re.fullmatch(r"/files/(.+)", path)
        if match and match.group(1) in self.release_files:
            return self.send_file(request, match.group(1), self.release_files[match.group(1)], head)
        return self.send_json(request, {"error": "Entry not found"}, 404, head)

    def send_json(self, request: BaseHTTPRequestHandler, body: object, status: int, head: bool,
                  error_code: str = "EntryNotFound") -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        if status == 404:
            request.send_header("X-Error-Code", error_code)
        request.end_headers()
        if not head:
            request.wfile.write(data)

    def send_file(self, request: BaseHTTPRequestHandler, name: str, data: bytes, head: bool,
                  commit: str | None = None) -> None:
        """The bytes from `Range: bytes=N-` on; with `commit`, the headers the hub sends for a repository file."""
        if not head and name in self._dropped and self.fail_after_drop:
            self._dropped.discard(name)
            return self.send_json(request, {"error": "overloaded"}, 503, head)
        start = 0
        ranged = request.headers.get("Range")
        if ranged and not head and not self.ignore_ranges:
            start = int(re.fullmatch(r"bytes=(\d+)-", ranged).group(1))
        body = data[start:]
        request.send_response(206 if start else 200)
        if start:
            request.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Accept-Ranges", "bytes")
        if commit is not None:
            request.send_header("ETag", f'"{git_blob_id(data)}"')
            request.send_header("X-Repo-Commit", commit)
            if len(data) >= LFS_THRESHOLD:
                request.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                request.send_header("X-Linked-Size", str(len(data)))
        request.end_headers()
        if head:
            return
        cut = self.drop_after.pop(name, None)
        if cut is not None:
            request.wfile.write(body[:cut])
            request.wfile.flush()
            request.close_connection = True
            self._dropped.add(name)
            return
        request.wfile.write(body)
