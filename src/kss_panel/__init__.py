"""kss-panel: the encrypted member register of KSS Energia's customer panel."""

import os

__version__ = "0.1.0"

# Pydantic validates every member's record (the policies have a validator of their own). A pydantic
# plugin installed in the same environment would be handed those records (and finding plugins scans
# every installed package's metadata at start-up): none is loaded.
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
