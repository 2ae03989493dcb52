"""The control plane: workspaces, functions, versions, instances, sources, audit."""
