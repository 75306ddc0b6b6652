"""The method itself: plain functions and torch modules on arrays, tensors and images.

Conventions used throughout:
- images at the edges are ``uint8 (H, W, 3)`` RGB arrays;
- inside the engine, images are ``float32 (B, C, H, W)`` tensors in [0, 1];
- masks are ``bool (H, W)`` (True = moving region) or ``float32 (H, W)`` in [0, 1] when soft;
- flows are ``float32 (2, H, W)`` in pixels per frame, channel 0 = x (to the right),
  channel 1 = y (downwards, image rows).

Nothing in this package knows about Prefect, DVC, Ray or file layouts beyond single files.
"""
