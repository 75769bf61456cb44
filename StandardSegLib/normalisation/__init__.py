"""MR intensity normalisation before radiomics and ComBat harmonisation of cohort features (issue 15, section 4).

- ``methods``: z-score (body or reference region), reference-tissue scaling, WhiteStripe; ``Normalisation``
  records for provenance; quantitative maps refused (``quantitative``);
- ``nyul``: Nyul-Udupa landmarks learnt from training images, kept as versioned JSON, and applied;
- ``protocol_step``: the method a protocol's ``radiomics.normalisation`` selects (``normalise``);
- ``combat``: ComBat (neuroCombat) on a batch folder's cohort.csv, an explicit step (``combat_harmonise``).
"""
