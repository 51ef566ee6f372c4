"""`python -m launcher` is the `assistant` console script."""

from launcher.cli import main

if __name__ == "__main__":
    main()
