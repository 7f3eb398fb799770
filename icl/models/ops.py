"""Small array helpers shared by the model modules."""



def per_token(fn, x_BT_):
  """Applies ``fn`` to a [B*T, ...] view of a [B, T, ...] array.

  Dense layers on 2-D inputs compile to plain matmuls; on [B, T, D] their
  weight gradients contract two axes, which XLA:CPU runs ~20% slower
  (measured on the MLP of the paper-size model).
  """
  b, t = x_BT_.shape[:2]
  y = fn(x_BT_.reshape((b * t,) + x_BT_.shape[2:]))
  return y.reshape((b, t) + y.shape[1:])
