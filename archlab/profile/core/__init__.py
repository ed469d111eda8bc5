"""What every measurement stands on: the module table and its hooks, the dispatch recorder's module
stack, inputs, the environment (device, threads, memory format) and memory trackers."""
