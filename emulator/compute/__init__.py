"""emulator/compute."""
