"""HTTP routers, one module per audience: health, bank (v1), customer, console."""
