"""xPos (Sun et al. 2022): RoPE with an exponential decay in distance.

Channel pair i of a query at position n is scaled by zeta_i^(n/SCALE_BASE)
and of a key at position m by zeta_i^(-m/SCALE_BASE), with
``zeta_i = (2i + 0.4K) / (1.4K)``; their product decays as
zeta_i^((n-m)/SCALE_BASE). Positions are not re-centred, so at position ids
of a few thousand the scales reach about 0.29^(±p/512); that is still well
inside float32.
"""

import jax.numpy as jnp

from icl.models.positional import rope
from icl.models.positional.base import PositionalEncoding

SCALE_BASE = 512.0


def decay(head_dim: int):
  """zeta_i for i < K/2, [K/2]."""
  i = jnp.arange(head_dim // 2, dtype=jnp.float32)
  return (2 * i + 0.4 * head_dim) / (1.4 * head_dim)


class XPosPositionalEncoding(PositionalEncoding):

  def rotate(self, q_BTHK, k_BTHK, positions_BT):
    head_dim = q_BTHK.shape[-1]
    angles_BTF = rope.angles(positions_BT, head_dim)
    power_BTF = positions_BT[..., None].astype(jnp.float32) / SCALE_BASE
    scale_BTF = decay(head_dim) ** power_BTF

    def scaled(x_BTHK, s_BTF):
      s_BTK = jnp.concatenate([s_BTF, s_BTF], -1)[:, :, None, :]
      pad = x_BTHK.shape[-1] - s_BTK.shape[-1]  # odd K: last channel as is
      s_BTK = jnp.pad(s_BTK, [(0, 0)] * 3 + [(0, pad)], constant_values=1.0)
      return x_BTHK * s_BTK.astype(x_BTHK.dtype)

    return (scaled(rope.rotate_pairs(q_BTHK, angles_BTF), scale_BTF),
            scaled(rope.rotate_pairs(k_BTHK, angles_BTF), 1.0 / scale_BTF))
