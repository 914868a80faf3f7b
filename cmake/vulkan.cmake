# Vulkan backend: sources, shaders compiled at build time. Filled in by the Vulkan work.
