"""cocotb testbenches and the runner that builds and runs them (Verilator by default)."""
