"""Clinical recipes: whole pipelines built from the library's operations."""
