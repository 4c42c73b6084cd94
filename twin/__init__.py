"""The offline twin, assembled: emulator + devhost running diskdr's own function_app.py.

Used by ``make demo`` and by the end-to-end tests; never deployed.
"""
