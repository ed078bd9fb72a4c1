"""CogVLM2-Video in its own process: a crash or its 25 GB stay out of the daemon and the engine.

The parent starts `python -m vividvr_engine.caption_worker FOLDER ...` and talks over the child's
stdin/stdout in length-prefixed messages: JSON for requests and answers, `.npy` (pickle refused)
for frames. Nothing is unpickled on either side.

    child  -> {"ready": true} | {"error": "..."}          once the model is loaded
    parent -> frames.npy                                    the sampled frames, float32 [T, 3, H, W] in [0, 1]
    child  -> {"caption": "...", "frames": T} | {"error": "..."}
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import torch

from vividvr_engine.cogvlm2 import CogVLM2Video, conversation_ids, frames_to_pixels, generate, load_model
from vividvr_engine.errors import CheckpointError, VividVRError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

HEADER = struct.Struct(">Q")


class CaptionerCrashed(VividVRError):
    """The captioner process died or answered with an error."""


def send(stream: BinaryIO, payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def receive(stream: BinaryIO) -> bytes | None:
    """One message, or None at end of stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return payload


def to_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def from_npy(payload: bytes) -> np.ndarray:
    return np.load(io.BytesIO(payload), allow_pickle=False)


# ---------------------------------------------------------------------------------- child side


@dataclass
class Describer:
    """Model and tokenizer together: frames in, caption out (what the worker process runs)."""

    model: CogVLM2Video
    tokenizer: PreTrainedTokenizerFast
    max_new_tokens: int

    @classmethod
    def load(cls, folder: Path, device: str, dtype: torch.dtype, max_new_tokens: int) -> Describer:
        from transformers import PreTrainedTokenizerFast

        model = load_model(folder, device, dtype)
        try:  # the published Llama-3 tokenizer.json; not AutoTokenizer, which would offer to run the folder's code
            tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{folder}: the captioner's tokenizer does not load ({exc})") from None
        return cls(model, tokenizer, max_new_tokens)

    def describe(self, frames: torch.Tensor, query: str) -> str:
        config = self.model.config
        pixels = frames_to_pixels(frames, config.vision.image_size)
        ids, types = conversation_ids(self.tokenizer, query, frames.shape[0], config)
        tokens = generate(self.model, ids, types, pixels, self.max_new_tokens)
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()


def serve(describer: Describer, query: str, requests: BinaryIO, answers: BinaryIO) -> None:
    while (payload := receive(requests)) is not None:
        frames = torch.from_numpy(from_npy(payload))
        try:
            reply = {"caption": describer.describe(frames, query), "frames": frames.shape[0]}
        except (RuntimeError, ValueError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        send(answers, json.dumps(reply).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CogVLM2-Video caption worker (started by the engine)")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--max-new-tokens", type=int, default=2048)
    parser.add_argument("--query", required=True)
    args = parser.parse_args(argv)
    # The protocol owns stdin and stdout: nothing a library prints or asks can reach them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    requests = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with open(os.devnull, "rb") as nothing:
        os.dup2(nothing.fileno(), sys.stdin.fileno())
    torch.set_grad_enabled(False)
    try:
        describer = Describer.load(args.folder, args.device, getattr(torch, args.dtype), args.max_new_tokens)
    except (CheckpointError, OSError, RuntimeError) as exc:
        send(answers, json.dumps({"error": str(exc)}).encode())
        return 1
    send(answers, json.dumps({"ready": True}).encode())
    serve(describer, args.query, requests, answers)
    return 0


# ---------------------------------------------------------------------------------- parent side


@dataclass(frozen=True)
class Caption:
    text: str
    frames: int  # how many frames the model was shown


class CaptionWorker:
    """Parent side: starts the child, waits until the model is loaded, then captions on request."""

    def __init__(
        self,
        folder: Path,
        query: str,
        device: str = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_new_tokens: int = 2048,
    ) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the child; closed by _stop)
        command = [
            sys.executable, "-m", "vividvr_engine.caption_worker", str(folder), "--device", str(device),
            "--dtype", str(dtype).removeprefix("torch."), "--max-new-tokens", str(max_new_tokens), "--query", query,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        self._finalizer = weakref.finalize(self, _stop, self.process, self._log)
        ready = self._answer()
        if "error" in ready:
            self.close()
            raise CheckpointError(ready["error"])

    @property
    def pid(self) -> int:
        return self.process.pid

    def caption(self, frames: torch.Tensor) -> Caption:
        """frames: the sampled frames [T, 3, H, W] in [0, 1]."""
        array = np.ascontiguousarray(frames.detach().float().cpu().numpy())
        try:
            send(self.process.stdin, to_npy(array))
        except (BrokenPipeError, ValueError):
            raise CaptionerCrashed(self._died()) from None
        answer = self._answer()
        if "error" in answer:
            raise CaptionerCrashed(f"the captioner failed: {answer['error']}")
        return Caption(answer["caption"], answer["frames"])

    def close(self) -> None:
        self._finalizer()

    def _answer(self) -> dict:
        payload = receive(self.process.stdout)
        if payload is None:
            raise CaptionerCrashed(self._died())
        return json.loads(payload)

    def _died(self) -> str:
        code = self.process.wait()
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace").strip().splitlines()[-5:]
        detail = "\n  ".join(tail) if tail else "(no output)"
        return f"the captioner process (CogVLM2-Video) exited with status {code}:\n  {detail}"


def _stop(process: subprocess.Popen, log: BinaryIO) -> None:
    """Closing stdin ends the child's loop; kill it if it does not leave promptly."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):  # a dead child leaves a broken pipe to flush
                stream.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


if __name__ == "__main__":
    sys.exit(main())
