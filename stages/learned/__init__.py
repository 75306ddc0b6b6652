"""The learned networks of the method: G_flow (§6) and G_frame (§7), their data, training and inference."""

import pkgutil

MODULES = tuple(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__))
"""Every module of this package (cache keys of the steps that train or run the networks hash them all)."""
