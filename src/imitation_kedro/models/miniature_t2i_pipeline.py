"""The miniature text-to-image pipeline: a diffusers ``DiffusionPipeline`` that follows
``StableDiffusionPipeline``'s calling conventions, so code written for Stable Diffusion runs on it.

Its components live in :mod:`imitation_kedro.models.miniature_t2i`. Called like SD::

    pipe(prompt=[...], generator=[torch.Generator().manual_seed(s), ...], num_inference_steps=20,
         guidance_scale=4.0, negative_prompt=[...], output_type="pil").images
    embeds, negative = pipe.encode_prompt(prompts, pipe.device, 1, True, negative_prompt=[...])
    pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, callback_on_step_end=fn, ...)

The one difference from SD: embeddings are the text tower's pooled features,
``(batch, cond_dim)``, where SD's are per-token states ``(batch, tokens, dim)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils.torch_utils import randn_tensor


class MiniatureTextToImagePipeline(DiffusionPipeline):
    """Latent diffusion on a PCA latent, with ``StableDiffusionPipeline``'s calling conventions.

    ``encode_prompt`` and ``__call__`` take SD's arguments and return what SD returns, so code
    written for SD runs unchanged; the one difference is the embedding shape: pooled text
    features ``(batch, cond_dim)`` where SD has per-token states ``(batch, tokens, dim)``.
    """

    model_cpu_offload_seq = "text_encoder->denoiser->decoder"
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]  # noqa: RUF012

    def __init__(self, text_encoder: Any, tokenizer: Any, denoiser: Any, decoder: Any,
                 scheduler: Any) -> None:
        super().__init__()
        self.register_modules(
            text_encoder=text_encoder, tokenizer=tokenizer, denoiser=denoiser, decoder=decoder,
            scheduler=scheduler,
        )
        self.image_processor = VaeImageProcessor(do_resize=False)

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def guidance_rescale(self) -> float:
        return self._guidance_rescale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def _embed(self, texts: list[Any], device: torch.device) -> torch.Tensor:
        tok = self.tokenizer(
            [t if isinstance(t, str) else "" for t in texts], padding="max_length",
            max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt",
        )
        return self.text_encoder(tok.input_ids.to(device))

    def encode_prompt(  # noqa: PLR0913
        self,
        prompt: str | list[str] | None,
        device: torch.device | str,
        num_images_per_prompt: int,
        do_classifier_free_guidance: bool,
        negative_prompt: str | list[str] | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        lora_scale: float | None = None,
        clip_skip: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(prompt_embeds, negative_prompt_embeds)`` as ``StableDiffusionPipeline.encode_prompt``:
        each ``(batch * num_images_per_prompt, cond_dim)``; the negative is ``None`` without
        guidance. The empty prompt is the unconditional input; a string negative prompt applies
        to every prompt (as in SDXL)."""
        if lora_scale is not None or clip_skip is not None:
            raise ValueError(
                "lora_scale and clip_skip are not supported: the miniature text tower has no LoRA "
                "layers and conditions on its pooled output; leave them None"
            )
        if isinstance(prompt, str):
            prompt = [prompt]
        batch_size = len(prompt) if prompt is not None else prompt_embeds.shape[0]
        dtype = self.text_encoder.dtype
        if prompt_embeds is None:
            prompt_embeds = self._embed(prompt, device)
        prompt_embeds = prompt_embeds.to(dtype=dtype, device=device)
        prompt_embeds = prompt_embeds.repeat_interleave(num_images_per_prompt, dim=0)
        if not do_classifier_free_guidance:
            return prompt_embeds, None
        if negative_prompt_embeds is None:
            if negative_prompt is None or isinstance(negative_prompt, str):
                negatives = [negative_prompt or ""] * batch_size
            elif len(negative_prompt) != batch_size:
                raise ValueError(
                    f"`negative_prompt`: {negative_prompt} has batch size {len(negative_prompt)}, but "
                    f"`prompt`: {prompt} has batch size {batch_size}. Please make sure that passed "
                    "`negative_prompt` matches the batch size of `prompt`."
                )
            else:
                negatives = list(negative_prompt)
            negative_prompt_embeds = self._embed(negatives, device)
        negative_prompt_embeds = negative_prompt_embeds.to(dtype=dtype, device=device)
        return prompt_embeds, negative_prompt_embeds.repeat_interleave(num_images_per_prompt, dim=0)

    def check_inputs(  # noqa: PLR0913
        self,
        prompt: Any,
        height: int | None,
        width: int | None,
        negative_prompt: Any = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> None:
        """Refuse what ``StableDiffusionPipeline.check_inputs`` refuses, with its messages."""
        size = self.decoder.config.image_size
        for label, value in (("height", height), ("width", width)):
            if value is not None and value != size:
                raise ValueError(f"{label}={value}: this miniature model only makes {size}x{size} images")
        unknown = [k for k in callback_on_step_end_tensor_inputs or [] if k not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` has to be in {self._callback_tensor_inputs}, "
                f"but found {unknown}"
            )
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("Cannot forward both `prompt` and `prompt_embeds`. Please make sure to only "
                             "forward one of the two.")
        if prompt is None and prompt_embeds is None:
            raise ValueError("Provide either `prompt` or `prompt_embeds`. Cannot leave both `prompt` and "
                             "`prompt_embeds` undefined.")
        if prompt is not None and not isinstance(prompt, str | list):
            raise ValueError(f"`prompt` has to be of type `str` or `list` but is {type(prompt)}")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("Cannot forward both `negative_prompt` and `negative_prompt_embeds`. Please make "
                             "sure to only forward one of the two.")
        if (prompt_embeds is not None and negative_prompt_embeds is not None
                and prompt_embeds.shape != negative_prompt_embeds.shape):
            raise ValueError(
                "`prompt_embeds` and `negative_prompt_embeds` must have the same shape when passed directly, "
                f"but got: `prompt_embeds` {prompt_embeds.shape} != `negative_prompt_embeds` "
                f"{negative_prompt_embeds.shape}."
            )

    def prepare_latents(self, batch_size: int, dtype: torch.dtype, device: torch.device,
                        generator: Any, latents: torch.Tensor | None = None) -> torch.Tensor:
        """Initial noise ``(batch_size, latent_dim)`` scaled by the scheduler, as SD's."""
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(
                f"You have passed a list of generators of length {len(generator)}, but requested an "
                f"effective batch size of {batch_size}. Make sure the batch size matches the length of "
                "the generators."
            )
        shape = (batch_size, self.denoiser.config.latent_dim)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        else:
            latents = latents.to(device)
        return latents * self.scheduler.init_noise_sigma

    def prepare_extra_step_kwargs(self, generator: Any, eta: float) -> dict[str, Any]:
        """``eta`` and ``generator`` for schedulers whose ``step`` takes them."""
        step_params = set(inspect.signature(self.scheduler.step).parameters)
        extra: dict[str, Any] = {}
        if "eta" in step_params:
            extra["eta"] = eta
        if "generator" in step_params:
            extra["generator"] = generator
        return extra

    @torch.no_grad()
    def __call__(  # noqa: PLR0913
        self,
        prompt: str | list[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 20,
        timesteps: list[int] | None = None,
        sigmas: list[float] | None = None,
        guidance_scale: float = 4.0,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        guidance_rescale: float = 0.0,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> ImagePipelineOutput | tuple:
        """Generate images, as ``StableDiffusionPipeline.__call__`` (same arguments and semantics;
        ``callback_on_step_end(pipe, i, t, tensors)`` may return replaced ``latents`` or embeds)."""
        from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import (
            rescale_noise_cfg,
            retrieve_timesteps,
        )

        tensor_inputs = list(callback_on_step_end_tensor_inputs or ["latents"])
        if isinstance(callback_on_step_end, PipelineCallback | MultiPipelineCallbacks):
            tensor_inputs = callback_on_step_end.tensor_inputs
        self.check_inputs(prompt, height, width, negative_prompt, prompt_embeds,
                          negative_prompt_embeds, tensor_inputs)
        self._guidance_scale = guidance_scale
        self._guidance_rescale = guidance_rescale
        self._interrupt = False
        device = self._execution_device
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt, device, num_images_per_prompt, self.do_classifier_free_guidance, negative_prompt,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
        )
        latents = self.prepare_latents(
            prompt_embeds.shape[0], prompt_embeds.dtype, device, generator, latents
        )
        if self.do_classifier_free_guidance:
            prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds])
        timesteps, _ = retrieve_timesteps(self.scheduler, num_inference_steps, device, timesteps, sigmas)
        extra = self.prepare_extra_step_kwargs(generator, eta)
        self._num_timesteps = len(timesteps)
        with self.progress_bar(total=len(timesteps)) as bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                model_in = torch.cat([latents, latents]) if self.do_classifier_free_guidance else latents
                model_in = self.scheduler.scale_model_input(model_in, t)
                eps = self.denoiser(model_in, t.reshape(1).expand(model_in.shape[0]), prompt_embeds)
                if self.do_classifier_free_guidance:
                    eps_uncond, eps_cond = eps.chunk(2)
                    eps = eps_uncond + self.guidance_scale * (eps_cond - eps_uncond)
                    if self.guidance_rescale > 0.0:
                        eps = rescale_noise_cfg(eps, eps_cond, guidance_rescale=self.guidance_rescale)
                latents = self.scheduler.step(eps, t, latents, **extra, return_dict=False)[0]
                if callback_on_step_end is not None:
                    current = {"latents": latents, "prompt_embeds": prompt_embeds,
                               "negative_prompt_embeds": negative_prompt_embeds}
                    outputs = callback_on_step_end(self, i, t, {k: current[k] for k in tensor_inputs})
                    latents = outputs.pop("latents", latents)
                    prompt_embeds = outputs.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = outputs.pop("negative_prompt_embeds", negative_prompt_embeds)
                bar.update()
        image = latents if output_type == "latent" else self.decoder.decode(latents)
        images = self.image_processor.postprocess(image, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)
