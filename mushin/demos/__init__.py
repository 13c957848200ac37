"""Demos shipped with the package, so ``python -m mushin demo`` works after ``pip install``.

Each module is also a script: ``python -m mushin.demos.segmentation --quick``
or ``python -m mushin.demos.digits --budget 0.3`` (the digits demo needs
scikit-learn for its bundled data set).
"""
