"""Media I/O: probing, frame-accurate decoding, encoding, pictures and procedural content.

Knows nothing of tasks or models.
"""
