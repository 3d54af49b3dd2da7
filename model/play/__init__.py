"""What ships: the world session and its file formats. numpy + ONNX Runtime; never torch or vizdoom."""
