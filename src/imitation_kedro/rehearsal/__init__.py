"""The paper-shape rehearsal (``kedro run --env rehearsal``): its stand-ins, built offline.

``python -m imitation_kedro.rehearsal build`` writes, under ``data/rehearsal/`` only:

* ``hf_cache/``: a Hugging Face hub cache holding tiny random-weight stand-ins under the *real*
  repo ids conf/paper names (SD1.1, SD1.5, SD2.1 as ``StableDiffusionPipeline`` with each model's
  scheduler and prediction type, sizes scaled down; the DFN5B artwork gate as an open_clip
  model), so conf/paper's model ids load unchanged with ``HF_HUB_CACHE`` pointing there;
* ``06_models/``: ONNX SCRFD detector and ArcFace recogniser with the real input/output
  signatures, and a tiny CSD checkpoint (safetensors) from a config;
* ``01_raw/``: the concept tables (the paper's real names from ``/work/shared/data`` plus an
  invented modern-artist table), references, LAION-schema caption shards for 2B-en and 5B, and
  image files the frequency downloader fetches through ``file://`` URLs (img2dataset layout).

Where each table goes is read from the rehearsal env's catalog, so the stand-ins sit exactly where
the paper configuration looks for the user's data.
"""
