"""The realtime speech-to-speech link: typed events, codec, endpoint, policy, link.

The pure parts (``events``, ``codec``, ``endpoint``, ``policy``, ``credentials``)
import nothing heavy; ``link`` pulls in ``websockets`` and is imported on use.
"""

from __future__ import annotations
