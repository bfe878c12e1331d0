"""Content library with approval, radio scheduler, segment assembly and station feeds."""
