"""StandardSeg library: the science behind the StandardSeg Slicer extension.

Pure Python (numpy, SimpleITK, pydicom, pyradiomics, highdicom). Only the ``StandardSegLib.mrml``
subpackage imports ``slicer``; everything else runs in plain Python, the CLI and the tests.
"""

__version__ = "0.1.0"
