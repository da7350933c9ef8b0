import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("JAXOFF_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set JAXOFF_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
