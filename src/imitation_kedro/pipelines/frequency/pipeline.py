"""Wiring of the ``frequency`` pipeline (FIT §3; fit.md §10.1)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from imitation_kedro.pipelines.frequency import nodes as n


def create_pipeline(**kwargs) -> Pipeline:
    """Captions -> counts and sampled hits -> images -> verification -> estimated frequencies."""
    return Pipeline(
        [
            Node(
                n.build_concept_phrases,
                ["raw_concepts", "params:frequency.matching"],
                "int_concept_phrases",
                name="build_concept_phrases",
            ),
            Node(
                n.count_captions,
                [
                    "raw_laion_captions",
                    "int_concept_phrases",
                    "params:frequency.matching",
                    "params:frequency.sampling",
                ],
                ["int_caption_counts", "int_caption_hits"],
                name="count_captions",
            ),
            Node(
                n.count_laion5b_captions,
                [
                    "raw_laion5b_captions",
                    "int_concept_phrases",
                    "params:frequency.matching",
                    "params:frequency.estimate",
                ],
                "int_caption_counts_5b",
                name="count_laion5b_captions",
            ),
            Node(
                n.plan_downloads, "int_caption_hits", "int_download_requests", name="plan_downloads"
            ),
            Node(
                n.download_images,
                [
                    "int_download_requests",
                    "int_downloaded_image_shards",
                    "params:frequency.acquisition",
                ],
                "int_download_summary",
                name="download_images",
            ),
            Node(
                n.collect_images,
                [
                    "int_download_requests",
                    "raw_laion_images",
                    "int_download_summary",
                    "int_clean_image_store",
                    "params:frequency.acquisition",
                ],
                ["int_clean_images", "int_image_rejects"],
                name="collect_images",
            ),
            Node(
                n.calibrate_verification,
                [
                    "raw_concepts",
                    "raw_reference_images",
                    "mdl_miniature_clip",
                    "params:frequency.verification",
                ],
                ["int_verification_calibration", "int_reference_rejects"],
                name="calibrate_verification",
            ),
            Node(
                n.verify_images,
                [
                    "int_caption_hits",
                    "int_clean_image_shards",
                    "raw_concepts",
                    "raw_reference_images",
                    "mdl_miniature_clip",
                    "int_verification_calibration",
                    "params:frequency.verification",
                    "int_clean_images",
                ],
                ["int_verification_scores", "int_verified_images"],
                name="verify_images",
            ),
            Node(
                n.estimate_concept_frequencies,
                [
                    "raw_concepts",
                    "int_caption_counts",
                    "int_caption_hits",
                    "int_clean_images",
                    "int_verification_scores",
                    "int_caption_counts_5b",
                    "params:frequency.estimate",
                    "params:frequency.verification",
                ],
                "prm_concept_frequencies",
                name="estimate_concept_frequencies",
            ),
        ]
    )
