"""The slice encoders: open_clip and transformers towers, patch tokens, token counts, missing weights."""

import pytest
import torch

from slicevlm.hub import ModelNotAvailableError
from slicevlm.vision import BIOMEDCLIP, HFClipSliceEncoder, SliceEncoder
from slicevlm.vision.pipeline import VisionPipeline


def test_tiny_encoder_loads_from_a_local_open_clip_folder(tiny_models):
    import open_clip

    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
    assert encoder.grid_size == (8, 8) and encoder.width == 64
    # Same weights as open_clip's own loader reads from that folder.
    reference = open_clip.create_model(f"local-dir:{tiny_models['encoder']}")
    assert torch.equal(encoder.visual.conv1.weight, reference.visual.conv1.weight)
    features = encoder(torch.rand(2, 5, 64, 64))
    assert features.shape == (2, 5, 64, 64)
    assert not any(p.requires_grad for p in encoder.parameters())


def test_tokens_are_the_final_norm_patch_tokens(tiny_models):
    import open_clip

    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32", chunk_size=3)
    visual = open_clip.create_model(f"local-dir:{tiny_models['encoder']}").visual.eval()
    visual.output_tokens = True
    volume = torch.rand(1, 4, 64, 64)
    images = (volume[0, :, None].expand(-1, 3, -1, -1) - encoder.mean) / encoder.std
    _, reference_tokens = visual(images)
    assert torch.allclose(encoder(volume)[0], reference_tokens, atol=1e-5)


def test_biomedclip_architecture_gives_196_tokens_of_768_and_343_visual_tokens():
    encoder = SliceEncoder(BIOMEDCLIP, pretrained=False)
    assert (encoder.width, encoder.grid_size, encoder.image_size) == (768, (14, 14), (224, 224))
    pipeline = VisionPipeline(encoder)
    assert pipeline.token_count(50) == 343
    features = encoder(torch.rand(1, 2, 224, 224))
    assert features.shape == (1, 2, 196, 768)


def test_hub_name_without_network_fails_at_once_saying_what_to_fetch():
    with pytest.raises(ModelNotAvailableError) as error:
        SliceEncoder(BIOMEDCLIP, pretrained=True)
    message = str(error.value)
    assert "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224" in message
    assert "Hugging Face cache" in message and "local-dir:" in message


def test_in_plane_size_is_resampled_to_the_encoders(tiny_models):
    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
    assert encoder(torch.rand(1, 3, 96, 96)).shape == (1, 3, 64, 64)


def test_transformers_clip_encoder_follows_its_n_and_c(tmp_path):
    """PubMedCLIP-style checkpoints (HF CLIPVisionModel) run through the same pipeline."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                     image_size=64, patch_size=16)).save_pretrained(tmp_path / "clip")
    encoder = HFClipSliceEncoder(str(tmp_path / "clip"))
    assert (encoder.width, encoder.grid_size) == (32, (4, 4))
    assert encoder(torch.rand(1, 3, 64, 64)).shape == (1, 3, 16, 32)
    assert VisionPipeline(encoder)(torch.rand(1, 16, 64, 64)).tokens.shape == (1, 2 * 2 * 2, 32)


def test_pubmedclip_architecture_gives_49_tokens_and_63_visual_tokens():
    encoder = HFClipSliceEncoder("flaviagiammarino/pubmed-clip-vit-base-patch32", pretrained=False)
    assert (encoder.width, encoder.grid_size) == (768, (7, 7))
    assert VisionPipeline(encoder).token_count(50) == 7 * 3 * 3
