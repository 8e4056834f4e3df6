"""The admission webhook server (``sigward admission serve``): AdmissionReview in, the engine's verdict out.

A front end like the CLI: it parses requests and renders responses; decisions come from
``sigward.admission``. Imported only by ``sigward admission …`` commands.
"""
