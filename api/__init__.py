"""The FRD REST service: a thin FastAPI layer over the ``frd`` library.

Start it with ``frd serve`` or ``uvicorn api.app:create_app --factory``.
"""
