"""A Hugging Face hub for tiny repositories, on 127.0.0.1, answering the endpoints huggingface_hub calls.

- GET  /api/models/{repo}/revision/{rev}         repository info (`sha`, `siblings`)
- GET  /api/models/{repo}/tree/{rev}[?recursive]  the file listing: size, git blob id, LFS sha256
- HEAD /{repo}/resolve/{rev}/{path}              ETag / X-Repo-Commit / X-Linked-Etag / X-Linked-Size
- GET  /{repo}/resolve/{rev}/{path}              the bytes, honouring `Range: bytes=N-` (206)
- GET  /files/{name}                             plain files (release assets), with ranges too

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
    repos: dict[str, dict[str, bytes]]  # repository -> path -> bytes
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    release_files: dict[str, bytes] = field(default_factory=dict)
    status: int | None = None
    drop_after: dict[str, int] = field(default_factory=dict)
    fail_after_drop: bool = False
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range)
    _dropped: set[str] = field(default_factory=set)

    def tree(self, repo: str) -> list[dict]:
        entries = []
        for path, data in sorted(self.repos[repo].items()):
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
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/.*", path)
        if api and api.group(1) in self.repos:
            repo = api.group(1)
            if api.group(2) == "tree":
                return self.send_json(request, self.tree(repo), 200, head)
            siblings = [{"rfilename": p} for p in sorted(self.repos[repo])]
            return self.send_json(request, {"id": repo, "sha": self.commit, "siblings": siblings}, 200, head)
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/[^/]+/(.+)", path)
        if match and match.group(2) in self.repos.get(match.group(1), {}):
            data = self.repos[match.group(1)][match.group(2)]
            return self.send_file(request, match.group(2), data, head, hub_headers=True)
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
                  hub_headers: bool = False) -> None:
        if not head and name in self._dropped and self.fail_after_drop:
            self._dropped.discard(name)
            return self.send_json(request, {"error": "overloaded"}, 503, head)
        start = 0
        ranged = request.headers.get("Range")
        if ranged and not head:
            start = int(re.fullmatch(r"bytes=(\d+)-", ranged).group(1))
        body = data[start:]
        request.send_response(206 if start else 200)
        if start:
            request.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Accept-Ranges", "bytes")
        if hub_headers:
            request.send_header("ETag", f'"{git_blob_id(data)}"')
            request.send_header("X-Repo-Commit", self.commit)
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
