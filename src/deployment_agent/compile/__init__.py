"""Compile the model to ONNX and verify the conversion against scikit-learn before it is served."""
