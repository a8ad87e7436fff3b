"""Call supervision: line calls in, flow engine over them, media and storage out."""
