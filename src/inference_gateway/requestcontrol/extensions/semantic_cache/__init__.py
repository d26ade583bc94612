"""The semantic cache: a numpy MiniLM embedder, a bounded per-model vector store, the plugin."""
