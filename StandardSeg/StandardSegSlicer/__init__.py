"""The StandardSeg module's Slicer-side code that does not need the module file itself.

- ``session_logic``: the console API (camelCase) over ``GuidedSession``, on any MRML context;
- ``dependencies``: which pinned Python packages Slicer must install, and installing them on first use;
- ``presentation``: session results as the text, colours and enabled steps the panel shows (plain Python);
- ``feedback``: readable errors and progress dialogs (imports ``slicer``/``qt`` only when called).
- ``phantom_logic``, ``followup_logic``: the panel's sections outside the guided steps (phantom analysis;
  follow-up comparison and reader agreement), calling the library as the CLI does.

They import without Qt, so the test suite checks them outside the Slicer application; ``StandardSeg.py``
only wires widgets to them. None imports ``StandardSegLib`` at module load: its packages may not be
installed yet when Slicer loads the module.
"""
