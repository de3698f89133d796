"""torch's optimizer options that change nothing Kiln computes, or that Kiln does not implement:
name -> (the values accepted, or None for any; why other values are refused)."""

_ANY = (None, "")

MAXIMIZE = ((False,), "Kiln's optimizers minimize; negate the loss to maximize it")
DIFFERENTIABLE = ((False,), "Kiln's optimizer steps are not recorded by autograd")
# One C++ implementation serves every setting of these: the step is always a single C++ call.
# (`fused`, which chooses between the fused kernel and the composite, is a C++ option.)
FOREACH = _ANY
CAPTURABLE = _ANY
