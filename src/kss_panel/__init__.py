"""kss-panel: the encrypted member register of KSS Energia's customer panel."""

import os

__version__ = "0.1.0"

# Pydantic validates the policies and every member's record. A pydantic plugin installed in the same
# environment would be handed those records (and finding plugins scans every installed package's
# metadata at start-up): none is loaded.
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
