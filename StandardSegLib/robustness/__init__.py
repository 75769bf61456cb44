"""Feature robustness (issue 15, section 3; Zwanenburg et al., Sci Rep 2019;9:614).

- ``perturbations``: rotation, translation, noise, volume adaptation, contour randomisation of image and mask;
- ``icc``: ICC(1,1) of many features at once, with 95 % confidence intervals;
- ``study``: perturbation and test-retest studies, features called robust at the protocol's threshold;
- ``cohort``: the lesions of a batch folder's cases (cohort mode).
"""
