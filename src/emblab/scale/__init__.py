"""Scale-out: out-of-core chunked encoding with resume, Ray Data, Qdrant export."""
