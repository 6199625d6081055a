"""OCR engines: the shared line model, the PP-OCR model catalogue and its ONNX pipeline."""
