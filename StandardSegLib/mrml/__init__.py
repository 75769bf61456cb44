"""The MRML part of StandardSeg: the only subpackage that imports ``slicer`` / ``vtk``.

It runs identically inside the Slicer desktop application and on the pip package slicer-core (headless).
Import ``StandardSegLib.mrml.scene`` explicitly; importing this package does not load Slicer (~2 s).
"""
