"""Generate, prove and measure the xenheap-on-vmap series for Xen."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xen-directmap-gen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
