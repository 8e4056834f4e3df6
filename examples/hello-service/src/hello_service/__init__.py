"""hello-service: the small HTTP service the seed pipeline packages, signs and deploys.

Standard library only, so the image needs nothing but a Python runtime from its (verified) base.
"""

__version__ = "0.5.0"
