"""edged: an always-on voice daemon for Raspberry Pi smart speakers."""

__version__ = "0.1.0"
