"""Code written for Stable Diffusion runs unchanged on the miniature pipeline: the same helpers,
using only ``StableDiffusionPipeline``'s conventions, drive a tiny real SD pipeline (built from
configs, offline tokenizer) and the miniature one."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from tests.models.test_miniature_t2i import tiny_miniature  # noqa: E402
from tests.pipelines.generation.conftest import build_tiny_sd, load_tiny_sd  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
PROMPTS = ["a painting of a cat", "Gérard's café"]
NEGATIVES = ["blurry", "a dark photo"]
SIZE = {"height": 32, "width": 32}


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_sd") / "pipeline"
    build_tiny_sd(path)
    return path


@pytest.fixture(params=["stable_diffusion", "miniature"])
def new_pipe(request, sd_dir):
    """A factory of fresh pipelines of one kind (dtype changes mutate a pipeline)."""
    if request.param == "stable_diffusion":
        return lambda: load_tiny_sd(sd_dir)
    return tiny_miniature


def generators(n: int) -> list:
    return [torch.Generator().manual_seed(s) for s in range(n)]


def sd_style_generate(pipe, per_prompt: int = 2, steps: int = 3, dtype=None):
    """Stable Diffusion code, nothing miniature-specific: embeddings from ``encode_prompt`` with
    negative prompts, several images per prompt, a step-counting ``callback_on_step_end``."""
    if dtype is not None:
        pipe.to(dtype=dtype)
    embeds, negative = pipe.encode_prompt(PROMPTS, pipe.device, 1, True, negative_prompt=NEGATIVES)
    seen: list[int] = []

    def count_steps(pipeline, step, timestep, tensors):
        seen.append(step)
        return tensors

    images = pipe(
        prompt_embeds=embeds, negative_prompt_embeds=negative, num_images_per_prompt=per_prompt,
        generator=generators(len(PROMPTS) * per_prompt), num_inference_steps=steps,
        guidance_scale=5.0, callback_on_step_end=count_steps, output_type="np", **SIZE,
    ).images
    return images, seen


def test_sd_code_runs_on_both_and_matches_the_prompt_call(new_pipe):
    images, seen = sd_style_generate(new_pipe())
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.float32
    assert seen == [0, 1, 2]
    assert 0.0 <= images.min() and images.max() <= 1.0
    direct = new_pipe()(
        prompt=PROMPTS, negative_prompt=NEGATIVES, num_images_per_prompt=2,
        generator=generators(4), num_inference_steps=3, guidance_scale=5.0, output_type="np",
        **SIZE,
    ).images
    assert np.array_equal(direct, images)  # both call styles, bit for bit


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_sd_code_runs_on_both_in_half_precision(new_pipe, dtype):
    reference, _ = sd_style_generate(new_pipe())
    images, seen = sd_style_generate(new_pipe(), dtype=getattr(torch, dtype))
    assert seen == [0, 1, 2] and images.dtype == np.float32
    assert np.abs(images - reference).mean() < 0.03


def test_negative_prompts_of_another_length_raise_diffusers_error(new_pipe):
    with pytest.raises(ValueError, match=r"`negative_prompt`: \['blurry'\] has batch size 1, but "
                                         r"`prompt`: .* has batch size 2\. Please make sure"):
        new_pipe()(prompt=PROMPTS, negative_prompt=["blurry"], num_inference_steps=2, **SIZE)


def test_the_callback_may_replace_latents_and_sees_what_it_asked_for(new_pipe):
    asked: list[set[str]] = []

    def zero_at_the_end(pipeline, step, timestep, tensors):
        asked.append(set(tensors))
        if step == pipeline.num_timesteps - 1:
            tensors["latents"] = torch.zeros_like(tensors["latents"])
        return tensors

    latents = new_pipe()(
        prompt=PROMPTS, generator=generators(2), num_inference_steps=2, output_type="latent",
        callback_on_step_end=zero_at_the_end, return_dict=False,
        callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"], **SIZE,
    )[0]
    assert asked == [{"latents", "prompt_embeds"}] * 2
    assert latents.shape[0] == 2 and not latents.any()


def test_diffusers_cfg_cutoff_callback_and_interrupt_work_on_both(new_pipe):
    from diffusers.callbacks import SDCFGCutoffCallback

    kw = {"prompt": PROMPTS[0], "num_inference_steps": 3, "guidance_scale": 5.0,
          "output_type": "np", **SIZE}
    pipe = new_pipe()
    full = pipe(generator=torch.Generator().manual_seed(1), **kw).images
    cut = pipe(generator=torch.Generator().manual_seed(1),
               callback_on_step_end=SDCFGCutoffCallback(cutoff_step_ratio=None, cutoff_step_index=1), **kw).images
    assert pipe.guidance_scale == 0.0 and not pipe.do_classifier_free_guidance
    assert cut.shape == full.shape and not np.array_equal(cut, full)

    seen: list[int] = []

    def stop(pipeline, step, timestep, tensors):
        seen.append(step)
        pipeline._interrupt = True
        return tensors

    pipe(generator=torch.Generator().manual_seed(1), callback_on_step_end=stop, **kw)
    assert seen == [0]
