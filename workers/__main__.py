"""`python -m workers` runs a worker; same as `assistant worker`."""

from launcher.cli import main

if __name__ == "__main__":
    main(["worker"])
