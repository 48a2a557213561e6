"""CLIP models: specs, the model store (downloads, imports, local folders), the
tokenizer and the backends that encode (torch, ONNX Runtime) behind one ``Backend``
choice, plus the ONNX exporter.  Importing this package imports no torch.
"""
