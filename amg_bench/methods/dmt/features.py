"""DMT's guidance features: three forward hooks in the UNet's second up block, and a forward that stops there.

The release (``register_guidance`` with ``up_res_dict: {1: [1]}``, ``guidance_before_res: True``)
wraps three modules of ``unet.up_blocks[1]`` (1280 channels in ZeroScope) and keeps, per video,
``(T, C, H, W)`` features:

- ``decoder_res1_block1_spatial_convolution``: the residual branch of ``resnets[1]`` after its
  ``conv2``, before the skip connection is added and before the output scale; here a hook on
  ``resnets[1].conv2``, whose output is exactly that tensor;
- ``decoder_res1_block1_temporal_convolution``: the output of ``temp_convs[1]`` (the whole
  ``TemporalConvLayer``, its own identity connection included);
- ``decoder_res1_upsampler``: the output of ``upsamplers[0]`` (twice the spatial size).

The release's attention-feature flags have no effect there (attention hooks exist only for up
block 0, which is not in ``up_res_dict``), so there are exactly these three.

While optimising the latent the release replaces the later up blocks and the output layers by
identities; :func:`truncated_forward` gets the same features by raising out of the UNet's forward
right after up block 1 (a forward hook), so nothing after it runs and no diffusers code is copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ...errors import MethodError

GUIDANCE_BLOCK = 1  # unet.up_blocks index (the release's up_res_dict key)
GUIDANCE_LAYER = 1  # resnets / temp_convs index within it (the release's up_res_dict value)
SPATIAL = f"decoder_res{GUIDANCE_BLOCK}_block{GUIDANCE_LAYER}_spatial_convolution"
TEMPORAL = f"decoder_res{GUIDANCE_BLOCK}_block{GUIDANCE_LAYER}_temporal_convolution"
UPSAMPLER = f"decoder_res{GUIDANCE_BLOCK}_upsampler"
#: Feature names, in the order the release sums their losses (module registration order).
FEATURE_NAMES = (SPATIAL, TEMPORAL, UPSAMPLER)


def guidance_modules(unet: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The three modules whose outputs are the guidance features, by feature name.

    Raises:
        MethodError: the UNet has no up block 1 with a second resnet, temporal conv and an upsampler.
    """
    blocks = getattr(unet, "up_blocks", None)
    try:
        block = blocks[GUIDANCE_BLOCK]
        modules = {
            SPATIAL: block.resnets[GUIDANCE_LAYER].conv2,
            TEMPORAL: block.temp_convs[GUIDANCE_LAYER],
            UPSAMPLER: block.upsamplers[0],
        }
    except (TypeError, IndexError, AttributeError) as exc:
        raise MethodError(
            f"the UNet has no up block {GUIDANCE_BLOCK} with resnets[{GUIDANCE_LAYER}], "
            f"temp_convs[{GUIDANCE_LAYER}] and an upsampler (a ZeroScope / ModelScope UNet3D has): {exc}"
        ) from exc
    return modules


class FeatureCapture:
    """Forward hooks keeping the guidance features of the last UNet call.

    Each hooked module sees frames flattened into the batch, ``(B * T, C, H, W)``; :meth:`features`
    returns them as ``(B, T, C, H, W)``.
    """

    def __init__(self, unet: torch.nn.Module) -> None:
        self.modules = guidance_modules(unet)
        self._outputs: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> FeatureCapture:
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._keeper(name)))
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _keeper(self, name: str):
        def keep(module, args, output):
            self._outputs[name] = output

        return keep

    def clear(self) -> None:
        self._outputs.clear()

    def features(self, num_frames: int) -> dict[str, torch.Tensor]:
        """``{name: (B, T, C, H, W)}`` of the last forward.

        Raises:
            MethodError: a hooked module did not run.
        """
        missing = [name for name in FEATURE_NAMES if name not in self._outputs]
        if missing:
            raise MethodError(f"the UNet forward did not reach {missing}")
        return {name: self._outputs[name].unflatten(0, (-1, num_frames)) for name in FEATURE_NAMES}


class _StopForward(Exception):
    """Raised by the hook after the guidance block: the rest of the UNet is not needed."""


@contextmanager
def _stop_after_guidance_block(unet: torch.nn.Module) -> Iterator[None]:
    def stop(module, args, output):
        raise _StopForward

    handle = unet.up_blocks[GUIDANCE_BLOCK].register_forward_hook(stop)
    try:
        yield
    finally:
        handle.remove()


def truncated_forward(
    unet: torch.nn.Module, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The guidance features of ``unet(sample, timestep, encoder_hidden_states)``, running it only up to up block 1.

    ``sample``: ``(B, C, T, h, w)`` latents. Returns ``{name: (B, T, C', H', W')}`` with the autograd
    graph kept (call it under ``torch.no_grad()`` when no gradient is wanted).
    """
    num_frames = sample.shape[2]
    with FeatureCapture(unet) as capture, _stop_after_guidance_block(unet):
        try:
            unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)
        except _StopForward:
            pass
        else:  # pragma: no cover (a hook that never fired means a UNet this module does not know)
            raise MethodError(f"unet.up_blocks[{GUIDANCE_BLOCK}] never ran")
        return capture.features(num_frames)
