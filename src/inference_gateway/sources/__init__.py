"""Where the datastore's objects come from: a hot-reloaded YAML file or Kubernetes watches."""

from inference_gateway.sources.file import FileSource, load_file, parse_text

__all__ = ["FileSource", "load_file", "parse_text"]
