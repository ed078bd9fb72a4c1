"""The Vivid-VR engine on the tiny checkpoints: sizes the reference cannot do, resume, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vividvr_engine.captioning import FixedCaptioner
from vividvr_engine.checkpoints import CheckpointPaths, load_models
from vividvr_engine.engine import CancelToken
from vividvr_engine.errors import Cancelled, CheckpointError
from vividvr_engine.in_memory import ArrayClip, MemorySink
from vividvr_engine.pipeline import VividVREngine, plan_geometry, resize_frame
from vividvr_engine.settings import RestoreSettings


@pytest.fixture(scope="module")
def models(reference_checkpoints):
    return load_models(CheckpointPaths.from_root(reference_checkpoints))


def make_engine(models, offload: str = "none", **overrides) -> tuple[VividVREngine, RestoreSettings]:
    """A loaded engine and one job's settings for it."""
    values = dict(
        num_inference_steps=2, upscale=2.0, tile_size=8, num_temporal_process_frames=9, seed=7,
        caption="a street at night",
    )
    values.update(overrides)
    return VividVREngine(models, offload=offload), RestoreSettings(**values)


def random_clip(frames: int, height: int, width: int, seed: int = 0) -> ArrayClip:
    rng = np.random.default_rng(seed)
    return ArrayClip(rng.random((frames, height, width, 3), dtype=np.float32), fps=24)


def restore(job: tuple[VividVREngine, RestoreSettings], clip, **kwargs) -> np.ndarray:
    engine, settings = job
    sink = MemorySink()
    engine.restore(clip, sink, settings, **kwargs)
    return sink.frames


def test_odd_sizes_and_no_guidance_restore_where_the_reference_crashes(models):
    # 20x28 at 2x is 40x56: neither side is a multiple of 16 (odd latent sides crash the reference),
    # and guidance 1 with two latent tiles crashes it too.
    engine = make_engine(models, guidance_scale=1.0)
    frames = restore(engine, random_clip(5, 20, 28))
    assert frames.shape == (5, 40, 56, 3)
    assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1
    wide = restore(engine, random_clip(3, 32, 48))
    assert wide.shape == (3, 64, 96, 3) and np.isfinite(wide).all()


@pytest.mark.parametrize("num_frames", [1, 2, 4])
def test_short_clips_come_back_with_every_frame(models, num_frames):
    frames = restore(make_engine(models), random_clip(num_frames, 16, 16))
    assert frames.shape == (num_frames, 32, 32, 3)
    assert np.isfinite(frames).all()


def test_multi_window_clip_is_streamed_once_plus_once_for_colour(models):
    clip = random_clip(21, 16, 16)
    sink = MemorySink()
    engine, settings = make_engine(models)
    engine.restore(clip, sink, settings)
    assert sink.frames.shape == (21, 32, 32, 3)
    assert len(sink.segments) == 4  # windows of 9 with stride 4 over 21 frames
    assert clip.reads == 1 + 2 * 21  # the first frame once more, to fingerprint resumable state


def test_latents_spilled_to_disk_give_the_same_result(models):
    clip = random_clip(13, 16, 16)
    in_ram = restore(make_engine(models), clip)
    engine = make_engine(models)
    engine[0].latent_ram_budget = 0
    on_disk = restore(engine, clip)
    np.testing.assert_array_equal(in_ram, on_disk)


def test_interrupted_run_resumes_to_the_uninterrupted_result(models, tmp_path):
    clip = random_clip(13, 16, 16)
    engine = make_engine(models, num_inference_steps=3)
    expected = restore(engine, clip)

    cancel = CancelToken()

    def stop_during_second_step(progress):
        if progress.phase == "denoise" and progress.step == 1 and progress.window == 1:
            cancel.cancel()

    state = tmp_path / "state"
    with pytest.raises(Cancelled):
        restore(engine, clip, progress=stop_during_second_step, state_dir=state, cancel=cancel)
    assert (state / "manifest.json").is_file()
    resumed_progress = []
    resumed = restore(engine, clip, state_dir=state, progress=resumed_progress.append)
    np.testing.assert_array_equal(resumed, expected)
    assert min(p.step for p in resumed_progress if p.phase == "denoise") == 1  # step 0 was not redone
    assert not any(p.phase == "encode" for p in resumed_progress)


def test_state_from_other_settings_is_not_reused(models, tmp_path):
    clip = random_clip(5, 16, 16)
    state = tmp_path / "state"
    restore(make_engine(models, seed=1), clip, state_dir=state)
    fresh = restore(make_engine(models, seed=2), clip)
    reused_dir = restore(make_engine(models, seed=2), clip, state_dir=state)
    np.testing.assert_array_equal(fresh, reused_dir)


def test_state_from_another_clip_of_the_same_size_is_not_reused(models, tmp_path):
    state = tmp_path / "state"
    restore(make_engine(models), random_clip(5, 16, 16, seed=1), state_dir=state)
    other = random_clip(5, 16, 16, seed=2)
    np.testing.assert_array_equal(
        restore(make_engine(models), other, state_dir=state), restore(make_engine(models), other)
    )


def test_segments_already_written_are_not_emitted_again(models):
    clip = random_clip(21, 16, 16)
    engine, settings = make_engine(models)
    full = MemorySink()
    engine.restore(clip, full, settings)
    tail = MemorySink()
    engine.restore(clip, tail, settings, first_unwritten_frame=full.segments[2][0])
    assert tail.segments[0][0] == full.segments[2][0]
    np.testing.assert_array_equal(tail.frames, full.frames[full.segments[2][0] :])


def test_progress_reports_every_phase_in_order(models):
    seen = []
    restore(make_engine(models), random_clip(5, 16, 16), progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases.index("encode") < phases.index("denoise") < phases.index("decode")
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_create_loads_the_published_layout_and_a_fixed_caption_needs_no_captioner(reference_checkpoints):
    engine = VividVREngine.create(reference_checkpoints, device="cpu")
    assert engine.dtype == torch.float32 and engine.captioner is None
    assert isinstance(engine.captioner_for(RestoreSettings(caption="a dog")), FixedCaptioner)


def test_a_job_without_captioner_or_caption_says_how_to_fix_it(reference_checkpoints):
    engine = VividVREngine.create(reference_checkpoints, device="cpu")
    with pytest.raises(CheckpointError, match=r"(?s)cogvlm2-llama3-caption.*--caption"):
        engine.restore(random_clip(1, 16, 16), MemorySink(), RestoreSettings())


def test_offload_mode_does_not_change_the_result_or_invalidate_saved_state(models, tmp_path):
    clip = random_clip(5, 16, 16)
    state = tmp_path / "state"
    expected = restore(make_engine(models), clip, state_dir=state)
    progress = []
    again = restore(make_engine(models, offload="model"), clip, state_dir=state, progress=progress.append)
    np.testing.assert_array_equal(again, expected)
    assert not any(p.phase in ("encode", "denoise") for p in progress)  # resumed from the saved state


class MarkingTextFixer:
    """Stands in for `TextFixer`: records what it is given and marks the frames it returns."""

    def __init__(self):
        self.calls = []

    def apply(self, restored, input_window):
        self.calls.append((restored.shape, input_window.shape))
        return np.full_like(restored, 0.5)


def test_text_fix_sees_each_segment_with_its_resized_input_and_its_output_is_kept(models):
    fixer = MarkingTextFixer()
    settings = RestoreSettings(
        num_inference_steps=1, upscale=2.0, tile_size=8, num_temporal_process_frames=9, textfix=True, caption="a sign"
    )
    engine = VividVREngine(models, text_fixer=fixer)
    frames = restore((engine, settings), random_clip(13, 16, 16))
    assert [call[0] for call in fixer.calls] == [call[1] for call in fixer.calls]
    assert sum(call[0][0] for call in fixer.calls) == 13 and fixer.calls[0][0][1:] == (32, 32, 3)
    assert (frames == 0.5).all()


def test_frames_wider_than_a_vae_tile_keep_their_size(models):
    # The tiny VAE tiles above 360 pixels; the reference's VAE returned frames of the wrong width there.
    frames = restore(make_engine(models, num_inference_steps=1, tile_size=16), random_clip(2, 12, 200))
    assert frames.shape == (2, 24, 400, 3) and np.isfinite(frames).all()


def test_odd_latent_sides_of_whole_tiles_are_generated_unpadded(models):
    # 36x44 at 2x is 72x88: both sides reach a pixel tile (8 latents = 64 px), so the reference
    # keeps them: latents 9x11, odd, yet every latent tile is a whole (even) 8x8.
    engine, settings = make_engine(models, num_inference_steps=1)
    geometry = plan_geometry(36, 44, settings)
    assert (geometry.gen_height, geometry.gen_width) == (72, 88)
    assert (geometry.latent_height, geometry.latent_width) == (9, 11)
    frames = restore((engine, settings), random_clip(2, 36, 44))
    assert frames.shape == (2, 72, 88, 3) and np.isfinite(frames).all()


def test_a_short_side_target_gives_exactly_that_many_rows():
    settings = RestoreSettings(short_side=1080)
    geometry = plan_geometry(1070, 1902, settings)
    frame = np.random.default_rng(1).random((1070, 1902, 3), dtype=np.float32)
    assert tuple(resize_frame(frame, geometry).shape) == (3, 1080, 1920)
