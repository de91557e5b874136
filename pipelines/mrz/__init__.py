"""MRZ text logic (pure, no imaging) and MRZ reading from images (through models.ocr)."""
