"""The course as something to run: headless notebook runs (:mod:`.runner`: ``labkit notebooks run``,
``labkit binder-link``). The exercise checks themselves live with their topic
(:mod:`labkit.widgets.exercise`, :mod:`labkit.encryption.exercises`, :mod:`labkit.smartnic.exercises`).
"""
