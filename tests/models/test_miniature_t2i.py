"""The miniature text-to-image pipeline on its own: fp32 bytes unchanged by the diffusers
conventions (checked against the pre-conventions sampling loop), encode_prompt's contract,
half precision, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
PROMPTS = ["a painting in the style of Ray Moss", "a picture of the red fox", "Zoë's café"]
NEGATIVES = ["blurry", "", "a dark photo"]


def tiny_miniature(scheduler: str = "DDIMScheduler"):
    """The miniature pipeline class with small random weights (seeded): bytes, not quality."""
    import diffusers

    from imitation_kedro.models import miniature_t2i as m
    from imitation_kedro.models.tokenizer import clip_tokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        decoder = m.PCAAutoencoder(latent_dim=16)
        denoiser = m.LatentDenoiser(latent_dim=16, cond_dim=16, hidden=32, blocks=1, time_dim=16)
        with torch.no_grad():
            decoder.components.normal_(std=0.1)
            denoiser.out.weight.normal_(std=0.1)
        text_cfg = {"context_length": 32, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}
        text_encoder = m.ClipTextTower(embed_dim=16, text_cfg=text_cfg)
    pipe = m.MiniatureTextToImagePipeline(
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(model_max_length=32, pad_token="!"),
        denoiser=denoiser,
        decoder=decoder,
        scheduler=getattr(diffusers, scheduler)(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generators(n: int, base: int = 0) -> list:
    return [torch.Generator().manual_seed(base + i) for i in range(n)]


@torch.no_grad()
def legacy_call(pipe, prompt, negative_prompt=None, num_inference_steps=20, guidance_scale=4.0,
                num_images_per_prompt=1, generator=None) -> np.ndarray:
    """The sampling loop as it was before the pipeline took SD's conventions (verbatim
    arithmetic), as float images: the reference the fp32 bytes must keep matching."""
    from diffusers.utils.torch_utils import randn_tensor

    def encode(texts):
        tok = pipe.tokenizer(texts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt")
        return pipe.text_encoder(tok.input_ids.to(pipe.device))

    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    prompts = [p for p in prompts for _ in range(num_images_per_prompt)]
    negatives = [""] * len(prompts)
    if negative_prompt is not None:
        negatives = [n for n in negative_prompt for _ in range(num_images_per_prompt)]
    do_cfg = guidance_scale > 1.0
    cond = encode(prompts)
    if do_cfg:
        cond = torch.cat([encode(negatives), cond])
    shape = (len(prompts), pipe.denoiser.config.latent_dim)
    latents = randn_tensor(shape, generator=generator, device=pipe.device, dtype=cond.dtype)
    latents = latents * pipe.scheduler.init_noise_sigma
    pipe.scheduler.set_timesteps(num_inference_steps, device=pipe.device)
    for t in pipe.scheduler.timesteps:
        model_in = torch.cat([latents, latents]) if do_cfg else latents
        model_in = pipe.scheduler.scale_model_input(model_in, t)
        eps = pipe.denoiser(model_in, t.reshape(1).expand(model_in.shape[0]), cond)
        if do_cfg:
            eps_uncond, eps_cond = eps.chunk(2)
            eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
        latents = pipe.scheduler.step(eps, t, latents, eta=0.0, generator=generator).prev_sample
    images = (pipe.decoder.decode(latents) / 2 + 0.5).clamp(0, 1)
    return images.permute(0, 2, 3, 1).float().cpu().numpy()


@pytest.mark.parametrize("batch_invariant", [False, True])
@pytest.mark.parametrize(
    ("guidance_scale", "negative_prompt", "per_prompt"),
    [(4.0, None, 1), (3.0, NEGATIVES, 1), (3.0, NEGATIVES, 2), (1.0, None, 2)],
)
def test_fp32_images_are_bitwise_those_of_the_legacy_loop(
    batch_invariant, guidance_scale, negative_prompt, per_prompt
):
    from imitation_kedro.pipelines.generation.render import make_batch_invariant

    pipe = tiny_miniature()
    if batch_invariant:
        make_batch_invariant(pipe)
    n = len(PROMPTS) * per_prompt
    kw = {"num_inference_steps": 5, "guidance_scale": guidance_scale,
          "num_images_per_prompt": per_prompt}
    expected = legacy_call(pipe, PROMPTS, negative_prompt, generator=generators(n), **kw)
    new = pipe(prompt=PROMPTS, negative_prompt=negative_prompt, generator=generators(n),
               output_type="np", **kw).images
    assert new.dtype == np.float32 and np.array_equal(new, expected)
    # SD's other call style: embeddings first, then the pipeline on them.
    embeds, negative = pipe.encode_prompt(PROMPTS, pipe.device, 1, guidance_scale > 1,
                                          negative_prompt=negative_prompt)
    again = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, generator=generators(n),
                 output_type="np", **kw).images
    assert np.array_equal(again, expected)
    assert len({im.tobytes() for im in new}) == n  # n different images, not one repeated


def test_output_types_agree_with_each_other():
    pipe = tiny_miniature()
    kw = {"prompt": PROMPTS[:2], "num_inference_steps": 3}
    arr = pipe(generator=generators(2), output_type="np", **kw).images
    pil = pipe(generator=generators(2), output_type="pil", **kw).images
    pt = pipe(generator=generators(2), output_type="pt", **kw).images
    (latent,) = pipe(generator=generators(2), output_type="latent", return_dict=False, **kw)
    assert np.array_equal(np.stack([np.asarray(im) for im in pil]),
                          (arr * 255).round().astype("uint8"))
    assert torch.equal(pt.permute(0, 2, 3, 1), torch.from_numpy(arr))
    assert latent.shape == (2, 16)
    assert torch.equal(pt, (pipe.decoder.decode(latent) / 2 + 0.5).clamp(0, 1))


def test_encode_prompt_follows_stable_diffusion():
    pipe = tiny_miniature()
    embeds, negative = pipe.encode_prompt(PROMPTS, "cpu", 2, True, negative_prompt="blurry")
    assert embeds.shape == negative.shape == (6, 16)
    assert torch.equal(embeds[0], embeds[1]) and not torch.equal(embeds[1], embeds[2])
    assert torch.equal(negative[0], negative[5])  # one string negative for every prompt
    plain, none = pipe.encode_prompt("a dog", "cpu", 1, False)
    assert plain.shape == (1, 16) and none is None
    given, _ = pipe.encode_prompt(None, "cpu", 3, False, prompt_embeds=plain)
    assert given.shape == (3, 16) and torch.equal(given[2], plain[0])
    with pytest.raises(ValueError, match="clip_skip are not supported"):
        pipe.encode_prompt("a dog", "cpu", 1, False, clip_skip=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"negative_prompt": ["blurry"]}, r"`negative_prompt`: \['blurry'\] has batch size 1, but "
                                          r"`prompt`: .* has batch size 3"),
        ({"height": 64}, "height=64: this miniature model only makes 32x32 images"),
        ({"generator": [None]}, "list of generators of length 1, but requested an effective batch size of 3"),
        ({"callback_on_step_end_tensor_inputs": ["noise"]}, r"has to be in .* but found \['noise'\]"),
        ({"prompt_embeds": torch.zeros(3, 16)}, "Cannot forward both `prompt` and `prompt_embeds`"),
    ],
)
def test_bad_calls_raise_diffusers_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_miniature()(prompt=PROMPTS, num_inference_steps=2, **kwargs)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_generates_close_to_fp32(dtype):
    """float16 matmuls run on this torch's CPU; the generation node still refuses float16 on
    cpu (tests/pipelines/generation/test_render.py) because they are slow there."""
    reference = tiny_miniature()(prompt=PROMPTS, negative_prompt=NEGATIVES, generator=generators(3),
                                 num_inference_steps=5, output_type="np").images
    pipe = tiny_miniature().to(getattr(torch, dtype))
    assert pipe.dtype == getattr(torch, dtype)
    out = pipe(prompt=PROMPTS, negative_prompt=NEGATIVES, generator=generators(3),
               num_inference_steps=5, output_type="np").images
    assert out.dtype == np.float32 and out.shape == reference.shape
    assert np.abs(out - reference).mean() < 0.03  # measured: bf16 0.010, fp16 0.0008


def test_generation_settings_render_the_miniature_in_bfloat16():
    from types import SimpleNamespace

    from imitation_kedro.pipelines.generation.render import prepare_pipeline, render_batch

    pipe = tiny_miniature()
    settings = SimpleNamespace(scheduler="EulerDiscreteScheduler", safety_checker=False,
                               dtype="bfloat16", steps=3, guidance_scale=3.0, height=None,
                               width=None, negative_prompt="blurry")
    speed = SimpleNamespace(attention="default", channels_last=False, compile=False,
                            batch_invariant=True)
    used = prepare_pipeline(pipe, settings, speed, "cpu")
    assert used["scheduler"] == "EulerDiscreteScheduler" and pipe.dtype == torch.bfloat16
    images = render_batch(pipe, PROMPTS, [1, 2, 3], settings)
    assert [im.size for im in images] == [(32, 32)] * 3


def test_guidance_rescale_changes_guided_images_only():
    kw = {"prompt": PROMPTS, "num_inference_steps": 3, "output_type": "np"}
    pipe = tiny_miniature()
    plain = pipe(generator=generators(3), guidance_scale=5.0, **kw).images
    rescaled = pipe(generator=generators(3), guidance_scale=5.0, guidance_rescale=0.7, **kw).images
    assert rescaled.shape == plain.shape and not np.array_equal(rescaled, plain)
    unguided = pipe(generator=generators(3), guidance_scale=1.0, **kw).images
    assert np.array_equal(
        unguided, pipe(generator=generators(3), guidance_scale=1.0, guidance_rescale=0.7, **kw).images
    )
