"""kss-panel: the encrypted member register of KSS Energia's customer panel."""

__version__ = "0.1.0"
