"""The art plugin's config sections: which pipeline, which images, how to sample."""

from __future__ import annotations

from pydantic import Field, field_validator

from tlgen.config import BackboneSection, DataSection, SampleSection


class ArtBackbone(BackboneSection):
    """A diffusers pipeline (hub id or folder; None: the shipped pixel DDPM) and, for
    ``from_scratch``, the architecture of a new pixel-space UNet."""

    sample_size: int = Field(64, ge=8)
    block_out_channels: list[int] = Field(default_factory=lambda: [32, 64, 64], min_length=1)
    layers_per_block: int = Field(2, ge=1)
    norm_num_groups: int = Field(16, ge=1)
    num_train_timesteps: int = Field(1000, ge=10)
    beta_schedule: str = "squaredcos_cap_v2"


class ArtData(DataSection):
    """Style images to fine-tune on, content images to stylise, and the crops."""

    style: str = Field("vangogh", description="folder or file of images, or a built-in set: "
                       "vangogh, ukiyoe (Hokusai and Hiroshige prints), photos")
    content: str = Field("skimage", description="folder or file of images, or built-in: skimage")
    crop: int = Field(64, ge=8, description="training crop size in pixels")
    zoom: tuple[float, float] = Field((1.5, 4.0), description="before cropping, an image's "
                                      "short side is resized to crop x a random zoom in this range")
    crops_per_image: int = Field(64, ge=1, description="random crops per image and epoch")
    validation_images: int = Field(1, ge=0, description="style images held out for validation loss")
    style_loss: float = Field(0.0, ge=0, description="pixel pipelines: weight of the Gram "
                              "style loss of the model's clean-image predictions from noised "
                              "photos (as sample.style_guidance measures it), beside the "
                              "denoising loss; 0 (default): off, the distillation term "
                              "carries the style")
    content_loss: float = Field(1.0, ge=0, description="weight, inside the style term, of "
                                "keeping the photo's VGG16 relu2_2 activations")
    distil: float = Field(30.0, ge=0, description="pixel pipelines: weight of the guidance "
                          "distillation term: the mean squared error between the model's "
                          "clean-image prediction from a noised photo and what the backbone, "
                          "style-guided, makes of that photo by SDEdit (made once, before "
                          "training); 0: off (plain denoising, unless style_loss)")
    distil_strength: float = Field(0.3, gt=0, le=1, description="the SDEdit strength of the "
                                   "guided images the distillation term learns")
    distil_guidance: float = Field(0.06, gt=0, description="the style guidance scale of the "
                                   "guided images the distillation term learns")
    distil_seeds: int = Field(4, ge=1, description="guided images made per photo (noise seeds)")
    photos: str = Field("photos", description="folder or file of images, or a built-in set, "
                        "that the style term stylises while training (keep the content "
                        "images out of it to measure on unseen photos)")
    caption: str = Field("a painting in sks style", description="text condition (text-to-image "
                         "pipelines); 'sks' is the style token")

    @field_validator("zoom")
    @classmethod
    def _ordered(cls, zoom: tuple[float, float]) -> tuple[float, float]:
        if not 0 < zoom[0] <= zoom[1]:
            raise ValueError("write zoom = [low, high] with 0 < low <= high")
        return zoom


class ArtSample(SampleSection):
    """Stylised content images at each strength, plus ``n`` unconditional/prompted samples."""

    n: int = Field(8, ge=0)
    strengths: list[float] = Field(default_factory=lambda: [0.3, 0.5, 0.7], min_length=1)
    steps: int = Field(50, ge=1, description="denoising steps over the full noise range")
    content_size: int = Field(128, ge=16, description="short side of content images, in pixels")
    max_content: int = Field(4, ge=1, description="content images used (the first, by name)")
    prompt: str | None = Field(None, description="text-to-image prompt (default: data.caption)")
    guidance_scale: float = Field(7.5, ge=1.0)
    style_guidance: float | None = Field(None, ge=0.0, description="pixel pipelines: each "
                                         "denoising step moves the predicted image down the "
                                         "gradient of a Gram style loss (palette and VGG16 "
                                         "layers) against the style set, by this RMS change in "
                                         "[-1, 1] pixel units; 0: off; default (None): 0.02 for "
                                         "a pixel pipeline, off for Stable Diffusion")

    @field_validator("strengths")
    @classmethod
    def _in_range(cls, strengths: list[float]) -> list[float]:
        if not all(0 < s <= 1 for s in strengths):
            raise ValueError("each strength must be in (0, 1]")
        return strengths
