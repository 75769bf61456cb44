"""The guided panel in a browser (``standardseg serve``): the seven steps of ``GuidedSession`` on trame-slicer.

Not part of the Slicer extension (the desktop module is its own front end): installed with the ``web`` extra,
imported only by ``standardseg serve`` and its tests.
"""
